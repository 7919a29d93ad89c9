"""One thing that keeps a stack from where it should be: a reason for conditions, a message for people.

Its own module so that every pure module (status, blockers, findings, prerequisites) can share it without
importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """Why something did not finish: a CamelCase reason for the conditions and a message for humans."""

    reason: str
    message: str

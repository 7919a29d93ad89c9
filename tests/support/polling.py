"""Polling with a deadline, as the tests await it: the harness's `eventually` in its async form.

A test never sleeps to wait; it polls until a condition holds and, when the deadline passes, fails with
what it last saw (kubelocal.wait).
"""

from __future__ import annotations

from kubelocal.wait import eventually_async as eventually

__all__ = ["eventually"]

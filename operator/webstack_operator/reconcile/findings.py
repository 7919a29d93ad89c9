"""What one reconcile found waiting on the world rather than on itself, and how to tell the user.

Pure. A name held by someone else's object, an adoption the apiserver refuses, a credentials source whose
API is not served, missing credentials over a volume with data: none of them is a failure a retry fixes,
so none counts as one. They are reported (a condition, one Warning Event each) and looked at again later.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from webstack_operator.api.problem import Problem
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects.ownership import Ownership, conflict_message

CONFLICT_RECHECK_SECONDS = 30.0  # a user's object holding a child's name: its removal sends us no event
COLLECTION_RECHECK_SECONDS = 2.0  # an earlier stack's child being garbage-collected
STEP_RECHECK_SECONDS = 0.5  # our own write wakes no reconcile: the step after it is looked at by this


@dataclass
class Findings:
    missing_apis: list[Problem] = field(default_factory=list)  # a credentials source's API not served
    conflicts: list[str] = field(default_factory=list)  # names held by objects that are not ours
    refused_adoptions: list[str] = field(default_factory=list)  # annotated to adopt, but unmergeable
    database: Problem | None = None  # the database's credentials are missing
    recheck: float | None = None  # look again after this long
    waiting_for: str | None = None  # what the recheck waits for, when no problem says it

    def later(self, seconds: float, why: str | None = None) -> None:
        self.recheck = seconds if self.recheck is None else min(self.recheck, seconds)
        self.waiting_for = why or self.waiting_for

    def allows(self, kind: str, live: JSON, whose: Ownership | None) -> bool:
        """Whether the stack may write into the name `live` holds; records why not."""
        if whose is Ownership.CONFLICT:
            self.conflicts.append(conflict_message(kind, live))
            self.later(CONFLICT_RECHECK_SECONDS)
            return False
        if whose is Ownership.DOOMED:
            self.later(COLLECTION_RECHECK_SECONDS)
            return False
        return True

    def refuse_adoption(self, message: str) -> None:
        self.refused_adoptions.append(message)
        self.later(CONFLICT_RECHECK_SECONDS)

    def next_step_soon(self, what: str) -> None:
        """A multi-step action (a credentials rotation) took a step: the next is looked at soon."""
        self.later(STEP_RECHECK_SECONDS, f"{what}: the next step")

    def credentials_missing(self, message: str) -> None:
        self.database = Problem("CredentialsMissing", message)
        self.later(CONFLICT_RECHECK_SECONDS)

    def waiting_on_user(self) -> list[tuple[str, str]]:
        """(reason, message) of each problem the user must act on, for the Reconciled condition."""
        return (
            [("NameConflict", m) for m in self.conflicts]
            + [("AdoptionRefused", m) for m in self.refused_adoptions]
            + [(p.reason, p.message) for p in self.missing_apis]
        )

    def problem(self) -> Problem | None:
        found = self.waiting_on_user()
        return Problem(found[0][0], "; ".join(m for _, m in found)) if found else None

    def summary(self) -> str:
        problem = self.problem() or self.database
        if problem:
            return problem.message
        return self.waiting_for or "an earlier stack's children are being garbage-collected"

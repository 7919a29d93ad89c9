"""`Ready` and the phase: the one verdict on the whole stack, and the blocker line that explains it.

The first cause that holds wins: an invalid spec, a pause, a failed apply, a failed migration, an aborted
canary; then either every component is available, or the stack waits, naming what it waits for and why.
"""

from __future__ import annotations

from dataclasses import dataclass

from webstack_operator.api.spec import WebStackSpec
from webstack_operator.api.status_types import Phase
from webstack_operator.kube.jsondata import JSON
from webstack_operator.status.canary import ABORTED, CanaryVerdict
from webstack_operator.status.components import ComponentReport
from webstack_operator.status.observed import Observed

# Missing prerequisites that leave every pod running: not what keeps components from being available.
_NOT_BLOCKING_PODS = frozenset({"IngressClassNotFound"})


@dataclass(frozen=True)
class StackPhase:
    """`status.phase`, the `Ready` condition's reason and message, and `status.blocker` ("": none)."""

    phase: Phase
    reason: str
    message: str
    blocker: str  # what keeps the stack from Ready, in one line naming the child


def stack_phase(
    spec: WebStackSpec,
    observed: Observed,
    components: ComponentReport,
    canary: CanaryVerdict | None,
    previous: JSON,
) -> StackPhase:
    """The phase, from the first cause that holds; `previous` is the stored status."""
    problem, migrated = observed.problem, observed.migration
    if observed.invalid_spec and problem is not None:
        return StackPhase("Failed", "InvalidSpec", problem.message, f"spec: {problem.message}")
    if spec.paused:
        return StackPhase("Paused", "Paused", "reconciliation is paused", "")
    if problem is not None:
        return StackPhase("Degraded", problem.reason, problem.message, f"reconcile: {problem.message}")
    if migrated is not None and migrated.ok is False:  # migration: failed, the running version serves
        return StackPhase("Degraded", migrated.reason, migrated.message, f"migration: {migrated.message}")
    if canary is not None and canary.reason == ABORTED:  # the stable version serves, not the spec's
        return StackPhase("Degraded", ABORTED, canary.message, f"backend: {canary.message}")
    if components.ok and (migrated is None or migrated.ok is True):
        return StackPhase("Ready", "AllComponentsReady", "every component is available", "")
    return waiting_phase(observed, components, previous)


def waiting_phase(observed: Observed, components: ComponentReport, previous: JSON) -> StackPhase:
    """A stack waiting on its components or its migration: Progressing, or Degraded when it was Ready at
    this generation. The blocker is the root cause: a missing prerequisite that keeps pods from running,
    else the first component's blocker, else the first condition that is not yet True."""
    migrated = observed.migration
    migration_done = migrated is None or migrated.ok is True
    waiting = [c for c in components.conditions if c["status"] != "True"]
    names = [c["type"] for c in waiting] + ([] if migration_done else ["Migrated"])
    was_ready = previous.get("phase") == "Ready" and previous.get("observedGeneration") == observed.generation
    blocking = [p for p in observed.prerequisites.missing if p.reason not in _NOT_BLOCKING_PODS]
    if blocking:
        reason, line = blocking[0].reason, f"prerequisites: {blocking[0].message}"
    elif components.blockers:
        label, blocker = components.blockers[0]
        reason, line = blocker.reason, f"{label}: {blocker.message}"
    else:
        reason = "ComponentsNotReady"
        line = waiting[0]["message"] if waiting else f"migration: {migrated.message if migrated else ''}"
    message = "waiting for " + ", ".join(names) + f"; {line}"
    return StackPhase("Degraded" if was_ready else "Progressing", reason, message, line)

"""status.phase: Ready's first cause that holds, and what a waiting stack names as its blocker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import parse_spec
from webstack_operator.observe.prerequisites import PrerequisiteCheck
from webstack_operator.status.canary import ABORTED, CanaryVerdict
from webstack_operator.status.components import ComponentReport
from webstack_operator.status.observed import Observed
from webstack_operator.status.phase import StackPhase, stack_phase, waiting_phase


@dataclass(frozen=True)
class Decided:
    ok: bool | None
    reason: str
    message: str


SPEC = parse_spec({"spec": {"backend": {"image": "example.com/users-api:1.0.0"}}})
AVAILABLE = ComponentReport(({"type": "BackendAvailable", "status": "True", "message": "backend: 1/1"},), ())
WAITING = ComponentReport(
    (
        {"type": "BackendAvailable", "status": "True", "message": "backend: 1/1"},
        {"type": "FrontendAvailable", "status": "False", "message": "frontend: 0/1 available"},
    ),
    (),
)


def _phase(observed: Observed, components: ComponentReport = AVAILABLE, **kwargs: Any) -> StackPhase:
    return stack_phase(
        kwargs.get("spec", SPEC), observed, components, kwargs.get("canary"), kwargs.get("previous", {})
    )


def test_the_first_cause_that_holds_wins() -> None:
    invalid = Problem("InvalidSpec", "spec.backend.image: required")
    paused = parse_spec({"spec": {"backend": {"image": "example.com/users-api:1.0.0"}, "paused": True}})
    failed = Decided(False, "MigrationFailed", "Job failed")
    aborted = CanaryVerdict(False, ABORTED, "canary aborted: analysis failed")
    observed = Observed(generation=1, problem=invalid, invalid_spec=True)
    assert _phase(observed, spec=paused) == StackPhase(
        "Failed", "InvalidSpec", invalid.message, f"spec: {invalid.message}"
    )
    assert (
        _phase(Observed(generation=1, problem=Problem("ApplyFailed", "boom")), spec=paused).phase == "Paused"
    )
    both = _phase(Observed(generation=1, migration=failed), canary=aborted)
    assert (both.phase, both.reason, both.blocker) == ("Degraded", "MigrationFailed", "migration: Job failed")
    assert (
        _phase(Observed(generation=1), canary=aborted).blocker == "backend: canary aborted: analysis failed"
    )
    assert _phase(Observed(generation=1)) == StackPhase(
        "Ready", "AllComponentsReady", "every component is available", ""
    )


def test_a_running_migration_keeps_an_available_stack_waiting() -> None:
    phase = _phase(Observed(generation=1, migration=Decided(None, "Running", "Job runs")))
    assert (phase.phase, phase.reason) == ("Progressing", "ComponentsNotReady")
    assert phase.message == "waiting for Migrated; migration: Job runs"


def test_a_missing_prerequisite_that_stops_pods_is_the_blocker() -> None:
    ingress = Problem("IngressClassNotFound", "no IngressClass alb")  # pods run without it
    priority = Problem("PriorityClassNotFound", "no PriorityClass high")
    only_ingress = waiting_phase(
        Observed(generation=1, prerequisites=PrerequisiteCheck(missing=(ingress,))), WAITING, {}
    )
    assert (only_ingress.reason, only_ingress.blocker) == ("ComponentsNotReady", "frontend: 0/1 available")
    both = Observed(generation=1, prerequisites=PrerequisiteCheck(missing=(ingress, priority)))
    phase = waiting_phase(both, WAITING, {})
    assert (phase.reason, phase.blocker) == ("PriorityClassNotFound", "prerequisites: no PriorityClass high")
    assert phase.message == "waiting for FrontendAvailable; prerequisites: no PriorityClass high"


def test_a_stack_ready_at_this_generation_that_loses_a_component_is_degraded() -> None:
    blocked = ComponentReport(WAITING.conditions, (("frontend", Problem("ImagePullBackOff", "no image")),))
    was_ready = {"phase": "Ready", "observedGeneration": 3}
    phase = waiting_phase(Observed(generation=3), blocked, was_ready)
    assert (phase.phase, phase.reason, phase.blocker) == (
        "Degraded",
        "ImagePullBackOff",
        "frontend: no image",
    )
    assert waiting_phase(Observed(generation=4), blocked, was_ready).phase == "Progressing"

"""status.conditions: how a condition is stamped, and the conditions that each read one finding."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import parse_spec
from webstack_operator.observe.prerequisites import PrerequisiteCheck
from webstack_operator.status.conditions import (
    ConditionMaker,
    migrated_condition,
    monitoring_condition,
    prerequisites_condition,
    reconciled_condition,
)
from webstack_operator.status.observed import Observed

NOW = "2026-11-26T00:00:00Z"
LATER = "2026-11-26T00:05:00Z"


@dataclass(frozen=True)
class Decided:
    ok: bool | None
    reason: str
    message: str


def _spec(**extra: Any) -> Any:
    return parse_spec({"spec": {"backend": {"image": "example.com/users-api:1.0.0"}, **extra}})


def test_the_transition_time_moves_only_when_the_status_changes() -> None:
    first = ConditionMaker.after({}, NOW, 1)("Reconciled", True, "Applied", "applied")
    stored = {"conditions": [first, {"status": "True"}]}  # a condition without a type is ignored
    same = ConditionMaker.after(stored, LATER, 2)("Reconciled", True, "Other", "other words")
    assert same["lastTransitionTime"] == NOW and same["observedGeneration"] == 2
    changed = ConditionMaker.after(stored, LATER, 2)("Reconciled", None, "Applied", "applied")
    assert (changed["status"], changed["lastTransitionTime"]) == ("Unknown", LATER)


def test_a_message_is_cut_at_1000_characters_and_the_stored_reason_is_readable() -> None:
    cond = ConditionMaker.after({"conditions": [{"type": "CanaryProgressing", "reason": "X"}]}, NOW, 1)
    assert len(cond("Ready", False, "Long", "x" * 1500)["message"]) == 1000
    assert cond.previous_reason("CanaryProgressing") == "X"
    assert cond.previous_reason("Ready") is None


def test_migrated_is_there_only_with_a_migration_job() -> None:
    cond = ConditionMaker.after({}, NOW, 1)
    assert migrated_condition(None, cond) == []
    [running] = migrated_condition(Decided(None, "Running", "Job runs"), cond)
    assert (running["type"], running["status"], running["reason"]) == ("Migrated", "Unknown", "Running")


def test_monitoring_says_whether_it_is_off_or_missing_its_operator() -> None:
    cond = ConditionMaker.after({}, NOW, 1)
    off = monitoring_condition(_spec(monitoring={"enabled": False}), Observed(generation=1), cond)
    missing = monitoring_condition(_spec(), Observed(generation=1, monitoring_available=False), cond)
    on = monitoring_condition(_spec(), Observed(generation=1), cond)
    assert [c["reason"] for c in (off, missing, on)] == [
        "Disabled",
        "PrometheusOperatorNotInstalled",
        "Configured",
    ]


def test_reconciled_a_pause_before_a_problem() -> None:
    cond, problem = ConditionMaker.after({}, NOW, 1), Problem("ApplyFailed", "boom")
    assert reconciled_condition(_spec(paused=True), problem, cond)["reason"] == "Paused"
    assert reconciled_condition(_spec(), problem, cond)["message"] == "boom"
    assert reconciled_condition(_spec(), None, cond)["status"] == "True"


def test_prerequisites_not_looked_for_are_unknown_not_missing() -> None:
    cond = ConditionMaker.after({}, NOW, 1)
    unchecked = prerequisites_condition(
        PrerequisiteCheck(found=("PriorityClass p",), unchecked=("SecretStore s",)), cond
    )
    assert (unchecked["status"], unchecked["reason"]) == ("Unknown", "NotChecked")
    assert unchecked["message"].startswith("found PriorityClass p; not checked")
    two = (Problem("PriorityClassNotFound", "no p"), Problem("StorageClassNotFound", "no s"))
    missing = prerequisites_condition(PrerequisiteCheck(missing=two), cond)
    assert (missing["reason"], missing["message"]) == ("PrerequisitesMissing", "no p; no s")
    assert (
        prerequisites_condition(PrerequisiteCheck(), cond)["message"] == "the spec names nothing to look for"
    )

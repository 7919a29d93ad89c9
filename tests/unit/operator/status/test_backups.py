"""Backup health from Velero's Backups: failing, missing, waiting for the first one, healthy."""

from __future__ import annotations

import datetime as dt
from typing import Any

from webstack_operator.status.backups import backup_health

DAILY = "0 3 * * *"  # longest gap 24 h: unhealthy after 48 h without a success
NOW = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
SCHEDULE_CREATED = "2026-11-01T00:00:00Z"


def _backup(name: str, phase: str | None, started: str, completed: str | None = None) -> dict[str, Any]:
    status: dict[str, Any] = {"startTimestamp": started}
    if phase is not None:
        status["phase"] = phase
    if completed:
        status["completionTimestamp"] = completed
    return {"metadata": {"name": name, "creationTimestamp": started}, "status": status}


def _health(*backups: dict[str, Any], created: str | None = SCHEDULE_CREATED) -> Any:
    return backup_health(list(backups), schedule=DAILY, schedule_created=created, now=NOW)


def test_a_recent_success_is_healthy_and_reported() -> None:
    health = _health(
        _backup("b1", "Completed", "2026-12-01T03:00:00Z", "2026-12-01T03:04:00Z"),
        _backup("b2", "Completed", "2026-12-02T03:00:00Z", "2026-12-02T03:05:00Z"),
    )
    assert (health.ok, health.reason) == (True, "BackupSucceeded")
    assert health.status() == {
        "lastBackup": "b2",
        "lastBackupPhase": "Completed",
        "lastBackupTime": "2026-12-02T03:00:00Z",
        "lastSuccessfulTime": "2026-12-02T03:05:00Z",
    }


def test_the_last_finished_backup_failing_is_unhealthy_even_after_an_earlier_success() -> None:
    health = _health(
        _backup("b1", "Completed", "2026-12-01T03:00:00Z", "2026-12-01T03:04:00Z"),
        _backup("b2", "PartiallyFailed", "2026-12-02T03:00:00Z", "2026-12-02T03:09:00Z"),
    )
    assert (health.ok, health.reason) == (False, "BackupPartiallyFailed")
    assert "b2" in health.message and "2026-12-01T03:04:00Z" in health.message
    assert "velero backup logs b2" in health.message
    assert health.last_successful_time == "2026-12-01T03:04:00Z"
    failed = _health(_backup("b3", "Failed", "2026-12-02T03:00:00Z"))
    assert (failed.ok, failed.reason) == (False, "BackupFailed")


def test_a_backup_in_progress_is_judged_by_the_one_before_it() -> None:
    health = _health(
        _backup("b1", "Completed", "2026-12-01T03:00:00Z", "2026-12-01T03:04:00Z"),
        _backup("b2", "InProgress", "2026-12-02T03:00:00Z"),
    )
    assert (health.ok, health.last_phase, health.last_backup) == (True, "InProgress", "b2")
    new = _health(_backup("b3", None, "2026-12-02T11:59:00Z"), created="2026-12-02T11:00:00Z")
    assert (new.ok, new.reason, new.last_phase) == (None, "AwaitingFirstBackup", "New")


def test_no_success_within_twice_the_period_is_unhealthy() -> None:
    stale = _health(_backup("b1", "Completed", "2026-11-30T03:00:00Z", "2026-11-30T11:59:00Z"))
    assert (stale.ok, stale.reason) == (False, "NoRecentBackup")  # 48 h 1 min ago
    assert "48h" in stale.message
    just = _health(_backup("b1", "Completed", "2026-11-30T03:00:00Z", "2026-11-30T12:00:00Z"))
    assert just.ok is True  # exactly 48 h


def test_a_schedule_without_any_success_waits_then_fails() -> None:
    young = _health(created="2026-12-01T00:00:00Z")  # 36 h old, window 48 h
    assert (young.ok, young.reason, young.status()) == (None, "AwaitingFirstBackup", {})
    old = _health(created="2026-11-30T11:00:00Z")
    assert (old.ok, old.reason) == (False, "NoSuccessfulBackup")
    assert "2026-11-30T11:00:00Z" in old.message


def test_the_stacks_backup_conditions_judge_only_a_schedule_that_exists() -> None:
    from webstack_operator.api.spec import parse_spec
    from webstack_operator.status.backups import backup_conditions, stack_backup_health
    from webstack_operator.status.conditions import ConditionMaker
    from webstack_operator.status.observed import Observed

    def spec(backup: dict[str, Any]) -> Any:
        return parse_spec({"spec": {"backend": {"image": "example.com/users-api:1.0.0"}, "backup": backup}})

    now, cond = "2026-12-02T12:00:00Z", ConditionMaker.after({}, "2026-12-02T12:00:00Z", 1)
    schedule = {"metadata": {"name": "shop", "creationTimestamp": SCHEDULE_CREATED}}
    off, on = spec({"enabled": False}), spec({"enabled": True, "schedule": DAILY})
    no_velero = Observed(generation=1, velero_available=False, schedule=schedule)
    assert stack_backup_health(off, Observed(generation=1, schedule=schedule), now) is None
    assert stack_backup_health(on, no_velero, now) is None
    assert [c["reason"] for c in backup_conditions(off, no_velero, None, cond)] == ["Disabled"]
    assert [c["reason"] for c in backup_conditions(on, no_velero, None, cond)] == ["VeleroNotInstalled"]
    observed = Observed(generation=1, schedule=schedule)
    health = stack_backup_health(on, observed, now)
    assert health is not None and health.reason == "NoSuccessfulBackup"  # a month old, never succeeded
    configured, healthy = backup_conditions(on, observed, health, cond)
    assert (configured["reason"], configured["message"]) == ("Scheduled", f"Velero Schedule '{DAILY}'")
    assert (healthy["type"], healthy["status"], healthy["reason"]) == (
        "BackupHealthy",
        "False",
        health.reason,
    )

"""Restore drills judged: when one is due, what a finished one records, and BackupHealthy with drills."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from tests.support.rendered_stacks import spec_of

from webstack_operator.status.backups import backup_conditions, backup_status
from webstack_operator.status.conditions import ConditionMaker
from webstack_operator.status.drills import drill_due, drill_health, drill_record, seconds_until_due
from webstack_operator.status.observed import Observed

BACKUP = {"enabled": True, "dump": {"claimName": "dumps"}, "drill": {"enabled": True, "period": "24h"}}
SPEC = spec_of(backup=BACKUP)
NOW = dt.datetime(2026, 12, 6, 12, 0, tzinfo=dt.UTC)
PASSED = {"id": "r1", "result": "Succeeded", "reason": "Restored", "time": "2026-12-06T11:00:00Z",
          "rpoSeconds": 3600.0, "rtoSeconds": 21.0}  # fmt: skip
DEADLINE = {"type": "Failed", "status": "True", "reason": "DeadlineExceeded", "message": "active too long"}
FAILED_JOB = {"status": {"conditions": [DEADLINE]}}


def test_the_first_drill_waits_for_a_dump_then_one_per_period() -> None:
    assert not drill_due(SPEC, None, None, NOW)
    assert drill_due(SPEC, None, "2026-12-06T03:00:00Z", NOW)
    assert not drill_due(SPEC, PASSED, "2026-12-06T03:00:00Z", NOW)
    assert drill_due(SPEC, {**PASSED, "time": "2026-12-05T11:59:00Z"}, None, NOW)
    assert not drill_due(
        spec_of(backup={**BACKUP, "drill": {"enabled": False}}), None, "2026-12-06T03:00:00Z", NOW
    )
    assert seconds_until_due(SPEC, PASSED, NOW) == 23 * 3600


def test_a_passed_drill_records_rpo_as_the_dumps_age_and_rto_from_its_start() -> None:
    verdict = {"result": "Succeeded", "reason": "Restored", "message": "ok", "dump": "webstack-1.pgdump",
               "dumpTime": "2026-12-06T03:00:00Z", "checkedAt": "2026-12-06T10:00:25Z",
               "schemaVersion": "0001_create_users",
               "tables": [{"name": "users", "rows": 3, "digest": "ab" * 16}]}  # fmt: skip
    record = drill_record({}, json.dumps(verdict), "r1", "2026-12-06T10:00:01Z", "2026-12-06T10:00:30Z")
    assert record == {
        "id": "r1",
        "result": "Succeeded",
        "reason": "Restored",
        "message": "ok",
        "time": "2026-12-06T10:00:25Z",
        "started": "2026-12-06T10:00:01Z",
        "dump": "webstack-1.pgdump",
        "dumpTime": "2026-12-06T03:00:00Z",
        "rpoSeconds": 7 * 3600 + 25.0,
        "rtoSeconds": 24.0,
        "schemaVersion": "0001_create_users",
        "tables": [{"name": "users", "rows": 3, "digest": "ab" * 16}],
    }


def test_a_failed_drill_keeps_its_reason_and_measures_nothing() -> None:
    verdict = {"result": "Failed", "reason": "CorruptDump", "message": "not an archive", "dump": "d.pgdump",
               "dumpTime": "2026-12-06T03:00:00Z"}  # fmt: skip
    record = drill_record({}, json.dumps(verdict), "r2", "2026-12-06T10:00:01Z", "2026-12-06T10:00:30Z")
    assert (record["result"], record["reason"], record["time"]) == (
        "Failed",
        "CorruptDump",
        "2026-12-06T10:00:30Z",
    )
    assert "rpoSeconds" not in record and "rtoSeconds" not in record


@pytest.mark.parametrize(
    ("job", "message", "reason"),
    [
        (FAILED_JOB, None, "DeadlineExceeded"),
        ({}, "not json", "NoVerdict"),
        ({}, '{"result": "Maybe"}', "NoVerdict"),
    ],
)
def test_a_drill_without_a_verdict_fails_with_the_jobs_reason(
    job: dict[str, Any], message: str | None, reason: str
) -> None:
    record = drill_record(job, message, "r3", "2026-12-06T10:00:01Z", "2026-12-06T10:20:01Z")
    assert (record["result"], record["reason"]) == ("Failed", reason)


def test_drill_health_failed_overdue_passed_or_not_yet() -> None:
    assert drill_health(spec_of(backup={"enabled": True}), PASSED, NOW) is None
    assert drill_health(SPEC, None, NOW).ok is None  # type: ignore[union-attr]
    failed = drill_health(SPEC, {**PASSED, "result": "Failed", "reason": "CorruptDump", "message": "x"}, NOW)
    assert failed is not None and (failed.ok, failed.reason) == (False, "DrillFailed")
    assert "CorruptDump" in failed.message
    overdue = drill_health(SPEC, {**PASSED, "time": "2026-12-05T10:00:00Z"}, NOW)
    assert overdue is not None and (overdue.ok, overdue.reason) == (False, "DrillOverdue")
    passed = drill_health(SPEC, PASSED, NOW)
    assert passed is not None and (passed.ok, passed.reason) == (True, "DrillSucceeded")
    assert "RPO 3600s, RTO 21s" in passed.message


def _conditions(last_drill: dict[str, Any] | None, velero: bool = False) -> dict[str, dict[str, Any]]:
    observed = Observed(generation=1, velero_available=velero, last_drill=last_drill)
    cond = ConditionMaker.after({}, "2026-12-06T12:00:00Z", 1)
    return {c["type"]: c for c in backup_conditions(SPEC, observed, None, cond)}


def test_backup_healthy_follows_the_last_drill_without_velero() -> None:
    found = _conditions({**PASSED, "result": "Failed", "reason": "RestoreFailed", "message": "m"})
    assert found["BackupConfigured"]["status"] == "True"
    assert "pg_dump to claim dumps" in found["BackupConfigured"]["message"]
    assert (found["BackupHealthy"]["status"], found["BackupHealthy"]["reason"]) == ("False", "DrillFailed")
    assert _conditions(PASSED)["BackupHealthy"]["status"] == "True"
    assert _conditions(None)["BackupHealthy"]["status"] == "Unknown"


def test_status_backup_holds_the_last_dump_and_drill() -> None:
    cronjob = {"status": {"lastSuccessfulTime": "2026-12-06T03:00:09Z"}}
    observed = Observed(generation=1, dump=cronjob, last_drill=PASSED)
    assert backup_status(None, observed) == {"lastDumpTime": "2026-12-06T03:00:09Z", "lastDrill": PASSED}


def test_a_verdict_the_status_schema_would_refuse_is_bounded_not_written_as_is() -> None:
    verdict = {"result": "Succeeded", "reason": "not a reason!", "checkedAt": "yesterday", "dump": "d" * 300,
               "tables": [{"name": "users", "rows": "many"}]}  # fmt: skip
    record = drill_record({}, json.dumps(verdict), "r" * 300, "2026-12-06T10:00:01Z", "2026-12-06T10:00:30Z")
    assert record["reason"] == "Unknown" and record["time"] == "2026-12-06T10:00:30Z"
    assert len(record["id"]) == len(record["dump"]) == 253 and record["tables"] == []

"""compute_status and the migration gate's verdict: the Migrated condition, and Ready waits for it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from webstack_operator.api.spec import parse_spec
from webstack_operator.reconcile.migration_gate import MigrationVerdict
from webstack_operator.status.compute import Observed, compute_status

NOW = "2026-11-26T00:00:00Z"
JOB = "shop-migrate-0123456789"


def _spec() -> Any:
    return parse_spec({"spec": {"backend": {"image": "example.com/users-api:1.0.0"}}})


def _workload(kind: str = "Deployment", replicas: int = 1) -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": "w", "generation": 1},
        "spec": {"replicas": replicas},
        "status": {"observedGeneration": 1, "availableReplicas": replicas, "updatedReplicas": replicas},
    }


def _ready(migration: MigrationVerdict | None) -> Observed:
    return Observed(
        generation=1,
        backend=_workload(),
        frontend=_workload(),
        database=_workload("StatefulSet"),
        cache=_workload(),
        migration=migration,
    )


def _cond(status: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == ctype)


def test_ready_only_once_migrated() -> None:
    done = compute_status(
        _spec(), _ready(MigrationVerdict(True, "Succeeded", f"Job {JOB} completed", JOB)), {}, NOW
    )
    assert done["phase"] == "Ready"
    assert _cond(done, "Migrated") | {"lastTransitionTime": ""} == {
        "type": "Migrated",
        "status": "True",
        "reason": "Succeeded",
        "message": f"Job {JOB} completed",
        "lastTransitionTime": "",
        "observedGeneration": 1,
    }
    running = compute_status(
        _spec(), _ready(MigrationVerdict(None, "Running", f"Job {JOB} runs", JOB)), {}, NOW
    )
    assert running["phase"] == "Progressing"
    assert _cond(running, "Migrated")["status"] == "Unknown"
    assert _cond(running, "Ready")["message"] == f"waiting for Migrated; migration: Job {JOB} runs"
    # The four component conditions still come first.
    assert [c["type"] for c in running["conditions"][1:6]] == [
        "BackendAvailable",
        "FrontendAvailable",
        "DatabaseReady",
        "CacheReady",
        "Migrated",
    ]


def test_a_failed_migration_degrades_the_stack_with_its_reason() -> None:
    failed = MigrationVerdict(
        False, "MigrationFailed", f"Job {JOB} failed; the backend still runs 1.0.0", JOB
    )
    status = compute_status(_spec(), _ready(failed), {"phase": "Ready", "observedGeneration": 1}, NOW)
    assert status["phase"] == "Degraded"
    assert _cond(status, "Ready") | {"lastTransitionTime": ""} == {
        "type": "Ready",
        "status": "False",
        "reason": "MigrationFailed",
        "message": failed.message,
        "lastTransitionTime": "",
        "observedGeneration": 1,
    }
    assert _cond(status, "Migrated")["status"] == "False"


def test_no_job_no_condition() -> None:
    status = compute_status(_spec(), replace(_ready(None)), {}, NOW)
    assert status["phase"] == "Ready"
    assert "Migrated" not in {c["type"] for c in status["conditions"]}

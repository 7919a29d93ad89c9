"""cli/status/view.py: the blocker named first, the children tree, the canary and backup lines."""

from __future__ import annotations

import datetime
from typing import Any

from webstack_operator.cli.status.view import (
    Blocker,
    age,
    blocker,
    canary_line,
    is_ready,
    readiness,
    status_text,
)

NOW = datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC)


def cond(ctype: str, status: str, reason: str, message: str = "") -> dict[str, str]:
    return {"type": ctype, "status": status, "reason": reason, "message": message}


def ws(phase: str, *conditions: dict[str, str], generation: int = 1, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "shop", "namespace": "team-a", "generation": generation},
        "spec": {"backup": {"enabled": True}},
        "status": {"phase": phase, "observedGeneration": 1, "conditions": list(conditions), **status},
    }


def child(kind: str, name: str, component: str, **extra: Any) -> dict[str, Any]:
    meta = {
        "name": name,
        "creationTimestamp": "2026-01-01T11:55:00Z",
        "labels": {"app.kubernetes.io/component": component},
    }
    return {"kind": kind, "metadata": meta, **extra}


POSTGRES = child(
    "StatefulSet",
    "shop-postgres",
    "database",
    spec={"replicas": 1, "template": {"spec": {"containers": [{"image": "postgres:16"}]}}},
    status={"availableReplicas": 0},
)
WAITING = ws(
    "Progressing",
    cond("Ready", "False", "ComponentsNotReady", "waiting for DatabaseReady"),
    cond("BackendAvailable", "False", "NotAvailable", "backend: 0/2 available"),
    cond("DatabaseReady", "False", "NotAvailable", "Postgres: 0/1 available"),
    cond("Reconciled", "True", "Applied", "every desired object is applied"),
)


def test_the_database_blocks_before_the_backend_that_needs_it() -> None:
    found = blocker(WAITING, [POSTGRES])
    assert found == Blocker(
        "database", "StatefulSet shop-postgres", "NotAvailable", "Postgres: 0/1 available"
    )
    assert found.line() == "Postgres (StatefulSet shop-postgres): NotAvailable: Postgres: 0/1 available"


def test_a_failed_apply_or_invalid_spec_comes_first() -> None:
    failed = ws(
        "Degraded",
        cond("Reconciled", "False", "NameConflict", "Service team-a/shop-redis exists"),
        cond("DatabaseReady", "False", "NotAvailable", "x"),
    )
    assert blocker(failed) == Blocker("", "", "NameConflict", "Service team-a/shop-redis exists")
    invalid = ws("Failed", cond("Ready", "False", "InvalidSpec", "spec.x: bad"))
    assert blocker(invalid) == Blocker("spec", "", "InvalidSpec", "spec.x: bad")


def test_the_operators_own_blocker_wins_when_it_writes_one() -> None:
    line = "Postgres: StatefulSet shop-postgres: create Pod shop-postgres-0 failed: exceeded quota: pvc"
    found = blocker(
        ws("Progressing", *WAITING["status"]["conditions"], blocker=line, reason="FailedCreate"), [POSTGRES]
    )
    assert found == Blocker(
        "database",
        "StatefulSet shop-postgres",
        "FailedCreate",
        "StatefulSet shop-postgres: create Pod shop-postgres-0 failed: exceeded quota: pvc",
    )
    prerequisite = "prerequisites: PriorityClass webstack-high does not exist"
    assert blocker(ws("Progressing", blocker=prerequisite, reason="PriorityClassNotFound")) == Blocker(
        "prerequisites", "", "PriorityClassNotFound", "PriorityClass webstack-high does not exist"
    )


def test_ready_has_no_blocker_unless_a_newer_generation_waits() -> None:
    ready = ws("Ready", cond("Ready", "True", "AllComponentsReady"))
    assert is_ready(ready) and blocker(ready) is None
    newer = ws("Ready", cond("Ready", "True", "AllComponentsReady"), generation=2)
    assert not is_ready(newer)
    assert blocker(newer) == Blocker(
        "", "", "NotObserved", "the operator has not reconciled generation 2 yet"
    )
    assert blocker({"metadata": {"name": "s", "generation": 1}}).reason == "NotReconciled"  # type: ignore[union-attr]


def test_text_starts_with_the_blocker_and_shows_the_tree() -> None:
    text = status_text(WAITING, [child("Service", "shop-postgres", "database"), POSTGRES], NOW)
    lines = text.splitlines()
    assert (
        lines[0] == "Blocked by Postgres (StatefulSet shop-postgres): NotAvailable: Postgres: 0/1 available"
    )
    assert lines[1] == "WebStack team-a/shop: Progressing (generation 1, observed 1)"
    assert "  database" in lines
    assert "  ├─ Service shop-postgres               5m" in lines
    assert "  └─ StatefulSet shop-postgres    0/1    5m  postgres:16" in lines


def test_counts_ages_canary_and_backup() -> None:
    assert readiness({"kind": "Job", "spec": {"completions": 1}, "status": {"succeeded": 1}}) == "1/1"
    assert readiness({"kind": "Service"}) == ""
    assert age("2026-01-01T11:59:30Z", NOW) == "30s"
    assert age("2025-12-30T12:00:00Z", NOW) == "2d"
    rollout = {
        "kind": "Rollout",
        "metadata": {"name": "shop-backend"},
        "spec": {"strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}]}}},
        "status": {"currentStepIndex": 1, "phase": "Paused"},
    }
    moving = ws("Progressing", cond("CanaryProgressing", "True", "CanaryInProgress"))
    assert canary_line(moving, [rollout]) == "Canary: step 1/3, weight 20% (Paused)"
    assert canary_line(ws("Ready", cond("CanaryProgressing", "False", "Stable")), [rollout]) == ""
    backed = ws("Ready", backup={"lastBackup": "shop-20260101", "phase": "Completed"})
    assert "Backup: lastBackup shop-20260101, phase Completed" in status_text(backed, [], NOW)
    assert "Backup:" not in status_text(ws("Ready"), [], NOW)

"""status.components: which components the operator runs, their conditions, blockers and counts."""

from __future__ import annotations

from typing import Any

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import parse_spec
from webstack_operator.status.components import (
    component_conditions,
    component_counts,
    managed_readiness,
    ready_components,
)
from webstack_operator.status.conditions import ConditionMaker
from webstack_operator.status.observed import Observed

NOW = "2026-11-26T00:00:00Z"
COND = ConditionMaker.after({}, NOW, 1)


def _spec(**extra: Any) -> Any:
    return parse_spec({"spec": {"backend": {"image": "example.com/users-api:1.0.0"}, **extra}})


def _workload(name: str, ready: int, kind: str = "Deployment") -> dict[str, Any]:
    return {
        "kind": kind,
        "metadata": {"name": name, "generation": 1},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"image": f"{name}:1"}]}}},
        "status": {"observedGeneration": 1, "availableReplicas": ready, "updatedReplicas": ready},
    }


def _observed(**changes: Any) -> Observed:
    workloads = {
        "backend": _workload("backend", 1),
        "frontend": _workload("frontend", 1),
        "database": _workload("postgres", 1, "StatefulSet"),
        "cache": _workload("redis", 1),
    }
    return Observed(generation=1, **{**workloads, **changes})


def test_only_what_the_operator_runs_is_counted() -> None:
    spec = _spec(
        database={"mode": "External", "credentials": {"secretRef": {"name": "rds"}}},
        cache={"mode": "Disabled"},
    )
    parts = managed_readiness(spec, _observed(frontend=None))
    assert list(parts) == ["backend", "frontend"] and parts["frontend"] is None
    assert ready_components(parts) == "1/2"
    assert component_counts(parts) == {
        "backend": {"ready": 1, "desired": 1, "image": "backend:1"},
        "frontend": {"ready": 0, "desired": 0},
    }
    report = component_conditions(spec, _observed(frontend=None), parts, COND)
    assert [(c["type"], c["reason"]) for c in report.conditions] == [
        ("BackendAvailable", "Available"),
        ("FrontendAvailable", "NotFound"),
        ("DatabaseReady", "External"),
        ("CacheReady", "Disabled"),
    ]
    assert not report.ok and report.blockers == ()


def test_blockers_follow_the_component_order_and_postgres_credentials_win() -> None:
    problems = {name: [Problem("CrashLoopBackOff", f"{name} crashes")] for name in ("backend", "cache")}
    credentials = Problem("CredentialsMissing", "Secret shop-postgres is missing")
    observed = _observed(
        backend=_workload("backend", 0),
        database=_workload("postgres", 1, "StatefulSet"),  # available, yet it cannot serve the stack
        cache=_workload("redis", 0),
        problems=problems,
        database_problem=credentials,
    )
    report = component_conditions(_spec(), observed, managed_readiness(_spec(), observed), COND)
    assert [label for label, _ in report.blockers] == ["backend", "Postgres", "Redis"]
    database = report.conditions[2]
    assert (database["status"], database["reason"], database["message"]) == (
        "False",
        "CredentialsMissing",
        credentials.message,
    )
    assert report.conditions[0]["message"] == "backend: 0/1 available; backend crashes"


def test_every_component_available_is_ok() -> None:
    report = component_conditions(_spec(), _observed(), managed_readiness(_spec(), _observed()), COND)
    assert report.ok and ready_components(managed_readiness(_spec(), _observed())) == "4/4"

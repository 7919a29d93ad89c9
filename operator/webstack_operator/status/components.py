"""The stack's components: which the operator runs, their conditions, what keeps each back, their counts.

Four components, in this order: the backend, the frontend, Postgres and Redis; the last two are counted
only in mode Managed (otherwise their condition says who runs them). A component that is not available
names its blocker (observe/blockers.py), which `Ready` repeats for the first one.
"""

from __future__ import annotations

from dataclasses import dataclass

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.blockers import component_blocker
from webstack_operator.status.conditions import ConditionMaker
from webstack_operator.status.observed import Observed
from webstack_operator.status.readiness import Readiness, workload_readiness

# (name, condition type, label): the label names the component in messages and in the blocker.
COMPONENTS = (
    ("backend", "BackendAvailable", "backend"),
    ("frontend", "FrontendAvailable", "frontend"),
    ("database", "DatabaseReady", "Postgres"),
    ("cache", "CacheReady", "Redis"),
)


@dataclass(frozen=True)
class ComponentReport:
    """The components' four conditions and, in the same order, what keeps each unavailable one back."""

    conditions: tuple[JSON, ...]
    blockers: tuple[tuple[str, Problem], ...]  # (label, why)

    @property
    def ok(self) -> bool:
        """Every component is available or not the operator's to run."""
        return all(c["status"] == "True" for c in self.conditions)


def managed_readiness(spec: WebStackSpec, observed: Observed) -> dict[str, Readiness | None]:
    """The components the operator runs, by name, and how far each is (None: not created yet)."""
    parts: dict[str, Readiness | None] = {
        "backend": workload_readiness(observed.backend),
        "frontend": workload_readiness(observed.frontend),
    }
    if spec.database.mode == "Managed":
        parts["database"] = workload_readiness(observed.database)
    if spec.cache.mode == "Managed":
        parts["cache"] = workload_readiness(observed.cache)
    return parts


def _not_managed_reason(spec: WebStackSpec, name: str) -> str:
    if name == "database" and spec.database.mode == "External":
        return "External"
    if name == "cache" and spec.cache.mode in ("External", "Disabled"):
        return spec.cache.mode
    return "NotManaged"


def _workload(observed: Observed, name: str) -> JSON | None:
    workloads = {
        "backend": observed.backend,
        "frontend": observed.frontend,
        "database": observed.database,
        "cache": observed.cache,
    }
    return workloads[name]


def component_condition(
    spec: WebStackSpec,
    observed: Observed,
    parts: dict[str, Readiness | None],
    component: tuple[str, str, str],
    cond: ConditionMaker,
) -> tuple[JSON, Problem | None]:
    """One component's condition, and its blocker when one explains why it is not available. Postgres
    that cannot serve the stack (its credentials) is not ready whatever its StatefulSet shows."""
    name, ctype, label = component
    if name == "database" and observed.database_problem is not None:
        problem = observed.database_problem
        return cond(ctype, False, problem.reason, problem.message), problem
    if name not in parts:
        return cond(ctype, True, _not_managed_reason(spec, name), f"{label} is not run by the operator"), None
    r = parts[name]
    if r is None:
        return cond(ctype, False, "NotFound", f"{label} has not been created yet"), None
    if r.done:
        return cond(ctype, True, "Available", f"{label}: {r.detail}"), None
    failed = observed.failed_create if name == "database" else None
    blocker = component_blocker(_workload(observed, name), observed.problems.get(name, ()), failed)
    if blocker is None:
        return cond(ctype, False, "NotAvailable", f"{label}: {r.detail}"), None
    return cond(ctype, False, blocker.reason, f"{label}: {r.detail}; {blocker.message}"), blocker


def component_conditions(
    spec: WebStackSpec, observed: Observed, parts: dict[str, Readiness | None], cond: ConditionMaker
) -> ComponentReport:
    """The four component conditions, in `COMPONENTS` order, with their blockers."""
    conditions: list[JSON] = []
    blockers: list[tuple[str, Problem]] = []
    for component in COMPONENTS:
        condition, blocker = component_condition(spec, observed, parts, component, cond)
        conditions.append(condition)
        if blocker is not None:
            blockers.append((component[2], blocker))
    return ComponentReport(tuple(conditions), tuple(blockers))


def component_counts(parts: dict[str, Readiness | None]) -> JSON:
    """`status.components`: ready and desired replicas (and the image) of each component the operator runs."""
    components: JSON = {}
    for name, r in parts.items():
        components[name] = {"ready": r.ready if r else 0, "desired": r.desired if r else 0}
        if r is not None and r.image:
            components[name]["image"] = r.image
    return components


def ready_components(parts: dict[str, Readiness | None]) -> str:
    """`status.readyComponents`: `3/4`, of the components the operator runs."""
    done = sum(1 for r in parts.values() if r is not None and r.done)
    return f"{done}/{len(parts)}"

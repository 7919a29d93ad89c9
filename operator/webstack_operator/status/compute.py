"""Pure status computation: what the children say, turned into the WebStack's status.

No I/O and no clock: the caller passes the time, the observed children and the previous status, so every
rule here is a unit test away. `lastTransitionTime` moves only when a condition's status changes.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.blockers import FailedCreate, component_blocker
from webstack_operator.observe.prerequisites import Check
from webstack_operator.status.backups import BackupHealth, backup_health
from webstack_operator.status.canary import ABORTED, analysis_limits, canary_verdict


class Verdict(Protocol):
    """A condition decided elsewhere (the migration gate's `Migrated`): status only reads it."""

    @property
    def ok(self) -> bool | None: ...

    @property
    def reason(self) -> str: ...

    @property
    def message(self) -> str: ...


@dataclass(frozen=True)
class Observed:
    """Children as last seen (None when absent) and what the reconcile itself found."""

    generation: int
    backend: JSON | None = None  # a Rollout or a Deployment
    frontend: JSON | None = None
    database: JSON | None = None  # the Postgres StatefulSet (Managed only)
    cache: JSON | None = None  # the Redis Deployment (Managed only)
    rollouts_available: bool = True
    monitoring_available: bool = True
    velero_available: bool = True
    problem: Problem | None = None  # an apply that failed, or an invalid spec
    database_problem: Problem | None = None  # why Postgres cannot serve this stack (its credentials)
    invalid_spec: bool = False
    url: str | None = None
    migration: Verdict | None = None  # the Migrated condition (None: no migration Job rendered)
    network_policies_desired: int = 0  # NetworkPolicies rendered for the stack
    network_policies_applied: int = 0  # of those, how many the cache has seen in the cluster
    schedule: JSON | None = None  # the Velero Schedule
    backups: tuple[JSON, ...] = ()  # the Backups Velero made from it (they carry its labels)
    # Per component, what its pods and claims show (dependents.py): claims first, then pods, by name.
    troubles: Mapping[str, Sequence[Problem]] = field(default_factory=dict)
    failed_create: FailedCreate | None = None  # the database StatefulSet's newest FailedCreate Event
    prerequisites: Check = field(default_factory=Check)  # objects the spec names that the cluster lacks
    analysis_runs: tuple[JSON, ...] = ()  # the AnalysisRuns Argo Rollouts made from the Rollout


def observe(
    children: list[JSON],
    spec: WebStackSpec,
    *,
    name: str,
    generation: int,
    capabilities: Capabilities,
    problem: Problem | None,
    url: str | None,
    database_problem: Problem | None = None,
    migration: Verdict | None = None,
    network_policies: frozenset[str] = frozenset(),
    troubles: Mapping[str, Sequence[Problem]] | None = None,
    failed_creates: Mapping[str, FailedCreate] | None = None,
    prerequisites: Check | None = None,
) -> Observed:
    """Picks the workloads status reads out of a stack's children. Two of one kind and name (in two
    namespaces) cannot be told apart, resourceVersions being opaque: neither is believed. `network_policies`
    names the NetworkPolicies the stack renders; status counts how many of them exist."""

    def find(kinds: tuple[str, ...], suffix: str) -> JSON | None:
        found = [o for o in children if o["kind"] in kinds and o["metadata"]["name"] == f"{name}-{suffix}"]
        return found[0] if len(found) == 1 else None

    canary = spec.backend.delivery.strategy == "Canary" and capabilities.argo_rollouts
    database = find(("StatefulSet",), "postgres")
    failed = (failed_creates or {}).get(database["metadata"]["name"]) if database is not None else None
    return Observed(
        generation=generation,
        backend=find(("Rollout",) if canary else ("Deployment",), "backend"),
        frontend=find(("Deployment",), "frontend"),
        database=database,
        cache=find(("Deployment",), "redis"),
        rollouts_available=capabilities.argo_rollouts,
        monitoring_available=capabilities.prometheus_operator,
        velero_available=capabilities.velero,
        problem=problem,
        database_problem=database_problem,
        invalid_spec=problem is not None and problem.reason == "InvalidSpec",
        url=url,
        migration=migration,
        network_policies_desired=len(network_policies),
        network_policies_applied=sum(
            1 for o in children if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] in network_policies
        ),
        schedule=next((o for o in children if o["kind"] == "Schedule"), None),
        backups=tuple(o for o in children if o["kind"] == "Backup"),
        troubles=troubles or {},
        failed_create=failed,
        prerequisites=prerequisites or Check(),
        analysis_runs=tuple(o for o in children if o["kind"] == "AnalysisRun"),
    )


@dataclass(frozen=True)
class Readiness:
    ready: int
    desired: int
    image: str | None
    done: bool  # the controller has observed the latest spec and every replica is updated and available
    detail: str


def _image(obj: JSON) -> str | None:
    containers = obj.get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    return str(containers[0].get("image")) if containers else None


def _generation_observed(obj: JSON) -> bool:
    return int(obj.get("status", {}).get("observedGeneration") or 0) >= int(
        obj["metadata"].get("generation") or 0
    )


def workload_readiness(obj: JSON | None) -> Readiness | None:
    """Deployments, StatefulSets and Rollouts report readiness alike enough to share one reading."""
    if obj is None:
        return None
    spec, status = obj.get("spec", {}), obj.get("status", {}) or {}
    desired = int(spec.get("replicas", 1) if spec.get("replicas") is not None else status.get("replicas", 1))
    ready = int(status.get("availableReplicas", status.get("readyReplicas", 0)) or 0)
    if obj["kind"] == "StatefulSet":
        ready = int(status.get("availableReplicas", status.get("readyReplicas", 0)) or 0)
        updated = int(status.get("updatedReplicas", status.get("currentReplicas", 0)) or 0)
    else:
        updated = int(status.get("updatedReplicas", 0) or 0)
    seen = _generation_observed(obj)
    if obj["kind"] == "Rollout":
        # Argo Rollouts: Healthy means the stable ReplicaSet runs the desired template at full strength.
        phase = status.get("phase", "")
        done = seen and phase == "Healthy" and ready >= desired
        detail = f"Rollout {phase or 'not yet observed by Argo Rollouts'}"
        if status.get("message"):
            detail += f": {status['message']}"
    else:
        done = seen and ready >= desired and updated >= desired
        detail = f"{ready}/{desired} available" + (
            "" if seen else ", spec not yet observed by its controller"
        )
    return Readiness(min(ready, desired), desired, _image(obj), done, detail)


def _condition(
    previous: dict[str, JSON],
    ctype: str,
    ok: bool | None,
    reason: str,
    message: str,
    now: str,
    generation: int,
) -> JSON:
    status = "Unknown" if ok is None else ("True" if ok else "False")
    before = previous.get(ctype)
    since = before.get("lastTransitionTime") if before and before.get("status") == status else None
    return {
        "type": ctype,
        "status": status,
        "reason": reason,
        "message": message[:1000],
        "lastTransitionTime": since or now,
        "observedGeneration": generation,
    }


NETWORK_POLICIES_ENFORCED_BY_CNI = (
    "they take effect only where the CNI enforces NetworkPolicies (EKS: the VPC CNI with "
    'enableNetworkPolicy: "true")'
)


def network_policies_condition(
    spec: WebStackSpec, observed: Observed, cond: Callable[[str, bool | None, str, str], JSON]
) -> JSON:
    """`NetworkPoliciesApplied`: the stack's NetworkPolicies exist in the cluster. Whether the CNI enforces
    them is not visible through the API, so the message says what it takes."""
    if not spec.security.network_policies:
        message = "security.networkPolicies is false: no NetworkPolicy isolates the stack's pods"
        return cond("NetworkPoliciesApplied", False, "Disabled", message)
    applied, desired = observed.network_policies_applied, observed.network_policies_desired
    if desired > 0 and applied == desired:
        message = f"{applied} NetworkPolicies applied (default deny, then precise allows); "
        return cond("NetworkPoliciesApplied", True, "Applied", message + NETWORK_POLICIES_ENFORCED_BY_CNI)
    message = f"{applied} of {desired} NetworkPolicies applied"
    return cond("NetworkPoliciesApplied", False, "NotApplied", message)


def compute_status(spec: WebStackSpec, observed: Observed, previous: JSON | None, now: str) -> JSON:
    """The whole status, from scratch each time; equal inputs give equal output (so writes can be skipped)."""
    previous = previous or {}
    prev_conditions = {c["type"]: c for c in previous.get("conditions") or [] if "type" in c}
    gen = observed.generation

    def cond(ctype: str, ok: bool | None, reason: str, message: str) -> JSON:
        return _condition(prev_conditions, ctype, ok, reason, message, now, gen)

    parts: dict[str, Readiness | None] = {
        "backend": workload_readiness(observed.backend),
        "frontend": workload_readiness(observed.frontend),
    }
    if spec.database.mode == "Managed":
        parts["database"] = workload_readiness(observed.database)
    if spec.cache.mode == "Managed":
        parts["cache"] = workload_readiness(observed.cache)

    conditions: list[JSON] = []
    backup: BackupHealth | None = None
    workloads = {
        "backend": observed.backend,
        "frontend": observed.frontend,
        "database": observed.database,
        "cache": observed.cache,
    }
    blockers: list[tuple[str, Problem]] = []  # (label, why), in component order: what keeps each back

    def component_condition(ctype: str, name: str, label: str, external_reason: str | None) -> bool:
        if name not in parts:
            conditions.append(
                cond(ctype, True, external_reason or "NotManaged", f"{label} is not run by the operator")
            )
            return True
        r = parts[name]
        if r is None:
            conditions.append(cond(ctype, False, "NotFound", f"{label} has not been created yet"))
            return False
        if r.done:
            conditions.append(cond(ctype, True, "Available", f"{label}: {r.detail}"))
            return True
        failed = observed.failed_create if name == "database" else None
        blocker = component_blocker(workloads[name], observed.troubles.get(name, ()), failed)
        if blocker is None:
            conditions.append(cond(ctype, False, "NotAvailable", f"{label}: {r.detail}"))
        else:
            blockers.append((label, blocker))
            conditions.append(cond(ctype, False, blocker.reason, f"{label}: {r.detail}; {blocker.message}"))
        return False

    backend_ok = component_condition("BackendAvailable", "backend", "backend", None)
    frontend_ok = component_condition("FrontendAvailable", "frontend", "frontend", None)
    database_ok = component_condition(
        "DatabaseReady", "database", "Postgres", "External" if spec.database.mode == "External" else None
    )
    if observed.database_problem is not None:
        database_ok = False
        conditions[-1] = cond(
            "DatabaseReady", False, observed.database_problem.reason, observed.database_problem.message
        )
        blockers[:] = [b for b in blockers if b[0] != "Postgres"] + [("Postgres", observed.database_problem)]
    cache_reason = {"External": "External", "Disabled": "Disabled"}.get(spec.cache.mode)
    cache_ok = component_condition("CacheReady", "cache", "Redis", cache_reason)
    migrated = observed.migration  # migration: its condition follows the four components'
    if migrated is not None:
        conditions.append(cond("Migrated", migrated.ok, migrated.reason, migrated.message))
    migration_done = migrated is None or migrated.ok is True

    wants_canary = spec.backend.delivery.strategy == "Canary"
    canary = None
    if wants_canary and observed.rollouts_available:
        canary = canary_verdict(
            observed.backend,
            observed.analysis_runs,
            steps=len(spec.backend.delivery.steps or ()),
            limits=analysis_limits(spec),
            previous_reason=(prev_conditions.get("CanaryProgressing") or {}).get("reason"),
        )
        conditions.append(cond("CanaryProgressing", canary.moving, canary.reason, canary.message))
    elif wants_canary:
        conditions.append(
            cond(
                "CanaryProgressing",
                False,
                "ArgoRolloutsNotInstalled",
                "Argo Rollouts is not installed: the backend runs as a Deployment with a rolling update",
            )
        )

    if not spec.monitoring.enabled:
        conditions.append(
            cond("MonitoringConfigured", False, "Disabled", "monitoring is disabled in the spec")
        )
    elif not observed.monitoring_available:
        conditions.append(
            cond(
                "MonitoringConfigured",
                False,
                "PrometheusOperatorNotInstalled",
                "the Prometheus Operator CRDs are not installed: ServiceMonitor and PrometheusRule "
                "are skipped (the dashboard ConfigMap is still rendered)",
            )
        )
    else:
        conditions.append(
            cond("MonitoringConfigured", True, "Configured", "ServiceMonitor and alerts applied")
        )

    if not spec.backup.enabled:
        conditions.append(cond("BackupConfigured", False, "Disabled", "backup is disabled in the spec"))
    elif not observed.velero_available:
        conditions.append(
            cond(
                "BackupConfigured",
                False,
                "VeleroNotInstalled",
                "the Velero CRDs are not installed: no backup Schedule is created",
            )
        )
    else:
        conditions.append(
            cond("BackupConfigured", True, "Scheduled", f"Velero Schedule '{spec.backup.schedule}'")
        )
        backup = backup_health(
            list(observed.backups),
            schedule=spec.backup.schedule,
            schedule_created=(observed.schedule or {}).get("metadata", {}).get("creationTimestamp"),
            now=datetime.datetime.fromisoformat(now.replace("Z", "+00:00")),
        )
        conditions.append(cond("BackupHealthy", backup.ok, backup.reason, backup.message))

    conditions.append(network_policies_condition(spec, observed, cond))

    problem = observed.problem
    if spec.paused:
        conditions.append(
            cond("Reconciled", False, "Paused", "spec.paused is true: the operator changes nothing")
        )
    elif problem is not None:
        conditions.append(cond("Reconciled", False, problem.reason, problem.message))
    else:
        conditions.append(cond("Reconciled", True, "Applied", "every desired object is applied"))
    conditions.append(prerequisites_condition(observed.prerequisites, cond))

    managed = list(parts.values())
    ready_count = sum(1 for r in managed if r is not None and r.done)
    all_ready = backend_ok and frontend_ok and database_ok and cache_ok and migration_done
    line = ""  # the blocker: what keeps the stack from Ready, in one line naming the child
    if observed.invalid_spec and problem is not None:
        phase, ready_reason, ready_message = "Failed", "InvalidSpec", problem.message
        line = f"spec: {problem.message}"
    elif spec.paused:
        phase, ready_reason, ready_message = "Paused", "Paused", "reconciliation is paused"
    elif problem is not None:
        phase, ready_reason, ready_message = "Degraded", problem.reason, problem.message
        line = f"reconcile: {problem.message}"
    elif migrated is not None and migrated.ok is False:  # migration: failed, the running version serves
        phase, ready_reason, ready_message = "Degraded", migrated.reason, migrated.message
        line = f"migration: {migrated.message}"
    elif canary is not None and canary.reason == ABORTED:  # the stable version serves, not the spec's
        phase, ready_reason, ready_message = "Degraded", ABORTED, canary.message
        line = f"backend: {canary.message}"
    elif all_ready:
        phase, ready_reason, ready_message = "Ready", "AllComponentsReady", "every component is available"
    else:
        waiting = [c for c in conditions[:4] if c["status"] != "True"]
        names = [c["type"] for c in waiting] + ([] if migration_done else ["Migrated"])
        was_ready = previous.get("phase") == "Ready" and previous.get("observedGeneration") == gen
        phase = "Degraded" if was_ready else "Progressing"
        # A missing prerequisite that keeps pods from running is the root of what the pods show.
        blocking = [p for p in observed.prerequisites.missing if p.reason not in _NOT_BLOCKING_PODS]
        if blocking:
            ready_reason, line = blocking[0].reason, f"prerequisites: {blocking[0].message}"
        elif blockers:
            ready_reason, line = blockers[0][1].reason, f"{blockers[0][0]}: {blockers[0][1].message}"
        else:
            ready_reason = "ComponentsNotReady"
            line = waiting[0]["message"] if waiting else f"migration: {migrated.message if migrated else ''}"
        ready_message = "waiting for " + ", ".join(names) + f"; {line}"
    conditions.insert(0, cond("Ready", phase == "Ready", ready_reason, ready_message))

    components: JSON = {}
    for name, r in parts.items():
        components[name] = {"ready": r.ready if r else 0, "desired": r.desired if r else 0}
        if r is not None and r.image:
            components[name]["image"] = r.image
    status: JSON = {
        "phase": phase,
        "observedGeneration": gen,
        "readyComponents": f"{ready_count}/{len(parts)}",
        "components": components,
        "conditions": conditions,
        "reason": ready_reason,
    }
    if line:
        status["blocker"] = " ".join(line.split())[:BLOCKER_LENGTH]
    if observed.url:
        status["url"] = observed.url
    if backup is not None and backup.status():
        status["backup"] = backup.status()
    return status


BLOCKER_LENGTH = 512
# Missing prerequisites that leave every pod running: not what keeps components from being available.
_NOT_BLOCKING_PODS = frozenset({"IngressClassNotFound"})


def prerequisites_condition(check: Check, cond: Callable[[str, bool | None, str, str], JSON]) -> JSON:
    """`Prerequisites`: whether the cluster has every object the spec names (prerequisites.py); Unknown
    when some could not be looked for, since a refused read says nothing about absence."""
    if check.missing:
        reason = check.missing[0].reason if len(check.missing) == 1 else "PrerequisitesMissing"
        return cond("Prerequisites", False, reason, "; ".join(p.message for p in check.missing))
    found = f"found {', '.join(check.found)}" if check.found else "the spec names nothing to look for"
    if check.unchecked:
        return cond(
            "Prerequisites",
            None,
            "NotChecked",
            f"{found}; not checked, since this operator cannot read their kind: {', '.join(check.unchecked)}",
        )
    return cond("Prerequisites", True, "Found", found)


def status_patch(old: JSON | None, new: JSON) -> JSON:
    """The merge patch that makes the stored status `new`: a merge patch keeps map keys it does not name,
    so a component that no longer exists (a database switched to External) and a field no longer set
    (the url) are removed with an explicit null."""
    old = old or {}
    patch: JSON = dict(new)
    for key in _OWN_KEYS - new.keys():
        if key in old:
            patch[key] = None
    for nested in _NESTED_KEYS & new.keys():  # a component, a backup field no longer there
        gone = (old.get(nested) or {}).keys() - new[nested].keys()
        if gone:
            patch[nested] = {**new[nested], **dict.fromkeys(sorted(gone))}
    return patch


def status_changed(old: JSON | None, new: JSON) -> bool:
    """Compares what matters; kopf's own bookkeeping under status (if any) is not ours to rewrite."""
    old = {k: v for k, v in (old or {}).items() if k in new or k in _OWN_KEYS}
    return old != new


_OWN_KEYS = frozenset(
    {
        "phase",
        "observedGeneration",
        "url",
        "readyComponents",
        "components",
        "conditions",
        "reason",
        "blocker",
        "backup",
    }
)
_NESTED_KEYS = frozenset({"components", "backup"})  # maps whose keys come and go

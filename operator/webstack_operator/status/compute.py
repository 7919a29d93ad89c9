"""The WebStack's status, computed from what the children say, and the patch that writes it.

No I/O and no clock: the caller passes the time, the observed children and the previous status, so every
rule is a unit test away. `compute_status` only composes the parts, each in a module of its own: the
components (components.py, readiness.py), the conditions that read one finding each (conditions.py), the
canary (canary.py), the backups (backups.py) and `Ready` with the phase (phase.py).
"""

from __future__ import annotations

from webstack_operator.api.spec import WebStackSpec
from webstack_operator.kube.jsondata import JSON
from webstack_operator.status.backups import backup_conditions, backup_status, stack_backup_health
from webstack_operator.status.canary import canary_condition, stack_canary
from webstack_operator.status.components import (
    component_conditions,
    component_counts,
    managed_readiness,
    ready_components,
)
from webstack_operator.status.conditions import (
    ConditionMaker,
    migrated_condition,
    monitoring_condition,
    network_policies_condition,
    prerequisites_condition,
    reconciled_condition,
    rotation_condition,
)
from webstack_operator.status.observed import Observed, observe
from webstack_operator.status.phase import stack_phase
from webstack_operator.status.readiness import workload_readiness

# What callers read from here: the status's inputs and its computation in one import.
__all__ = [
    "BLOCKER_LENGTH",
    "Observed",
    "compute_status",
    "observe",
    "status_changed",
    "status_patch",
    "workload_readiness",
]

BLOCKER_LENGTH = 512


def compute_status(spec: WebStackSpec, observed: Observed, previous: JSON | None, now: str) -> JSON:
    """The whole status, from scratch each time; equal inputs give equal output (so writes can be skipped)."""
    previous = previous or {}
    cond = ConditionMaker.after(previous, now, observed.generation)
    parts = managed_readiness(spec, observed)
    components = component_conditions(spec, observed, parts, cond)
    canary = stack_canary(spec, observed, cond.previous_reason("CanaryProgressing"))
    backup = stack_backup_health(spec, observed, now)
    phase = stack_phase(spec, observed, components, canary, previous)
    conditions = [
        cond("Ready", phase.phase == "Ready", phase.reason, phase.message),
        *components.conditions,
        *migrated_condition(observed.migration, cond),
        *canary_condition(canary, cond),
        monitoring_condition(spec, observed, cond),
        *backup_conditions(spec, observed, backup, cond),
        network_policies_condition(spec, observed, cond),
        reconciled_condition(spec, observed.problem, cond),
        prerequisites_condition(observed.prerequisites, cond),
        *rotation_condition(observed.rotation, cond),
    ]
    status: JSON = {
        "phase": phase.phase,
        "observedGeneration": observed.generation,
        "readyComponents": ready_components(parts),
        "components": component_counts(parts),
        "conditions": conditions,
        "reason": phase.reason,
    }
    if phase.blocker:
        status["blocker"] = " ".join(phase.blocker.split())[:BLOCKER_LENGTH]
    if observed.url:
        status["url"] = observed.url
    if spec.backup.enabled and (backup_fields := backup_status(backup, observed)):
        status["backup"] = backup_fields
    if observed.rotation is not None and observed.rotation.fields:
        status["credentials"] = observed.rotation.fields
    return status


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
        patch[nested] = _with_nulls(old.get(nested) or {}, new[nested])
    return patch


def _with_nulls(old: JSON, new: JSON) -> JSON:
    """`new`, with an explicit null for each key of `old` it lacks, in maps nested at any depth (the last
    drill's RPO and RTO must go when the next drill fails)."""
    out: JSON = {}
    for key, value in new.items():
        before = old.get(key)
        out[key] = (
            _with_nulls(before, value) if isinstance(value, dict) and isinstance(before, dict) else value
        )
    return {**out, **dict.fromkeys(sorted(old.keys() - new.keys()))}


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
        "credentials",
    }
)
_NESTED_KEYS = frozenset({"components", "backup", "credentials"})  # maps whose keys come and go

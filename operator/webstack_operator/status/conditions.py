"""Conditions: how one is made for a status write, and those that each read one finding.

`lastTransitionTime` moves only when a condition's status changes, so every condition is made against the
stored ones (`ConditionMaker`). The conditions here each follow from one setting or one finding: the
migration gate's `Migrated`, `MonitoringConfigured`, `NetworkPoliciesApplied`, `Reconciled` and
`Prerequisites`. The components', the canary's, the backups' and `Ready` have modules of their own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.prerequisites import PrerequisiteCheck
from webstack_operator.status.observed import DecidedCondition, Observed

MESSAGE_LENGTH = 1000


@dataclass(frozen=True)
class ConditionMaker:
    """Makes the conditions of one status: all stamped with the same time and generation, each keeping
    the stored `lastTransitionTime` while its status holds."""

    previous: Mapping[str, JSON]  # the stored conditions, by type
    now: str
    generation: int

    @classmethod
    def after(cls, previous_status: JSON, now: str, generation: int) -> ConditionMaker:
        stored = previous_status.get("conditions") or []
        return cls({c["type"]: c for c in stored if "type" in c}, now, generation)

    def __call__(self, ctype: str, ok: bool | None, reason: str, message: str) -> JSON:
        status = "Unknown" if ok is None else ("True" if ok else "False")
        before = self.previous.get(ctype)
        since = before.get("lastTransitionTime") if before and before.get("status") == status else None
        return {
            "type": ctype,
            "status": status,
            "reason": reason,
            "message": message[:MESSAGE_LENGTH],
            "lastTransitionTime": since or self.now,
            "observedGeneration": self.generation,
        }

    def previous_reason(self, ctype: str) -> str | None:
        """The stored condition's reason: a rule that needs to remember what it said last reads it here."""
        return (self.previous.get(ctype) or {}).get("reason")


def migrated_condition(migration: DecidedCondition | None, cond: ConditionMaker) -> list[JSON]:
    """`Migrated`, as the migration gate decided it; none without a migration Job."""
    if migration is None:
        return []
    return [cond("Migrated", migration.ok, migration.reason, migration.message)]


def rotation_condition(rotation: DecidedCondition | None, cond: ConditionMaker) -> list[JSON]:
    """`CredentialsRotated`, as the rotation decided it; none before the first rotation was asked for."""
    if rotation is None:
        return []
    return [cond("CredentialsRotated", rotation.ok, rotation.reason, rotation.message)]


def monitoring_condition(spec: WebStackSpec, observed: Observed, cond: ConditionMaker) -> JSON:
    """`MonitoringConfigured`: informational; without the Prometheus Operator the stack runs unwatched."""
    if not spec.monitoring.enabled:
        return cond("MonitoringConfigured", False, "Disabled", "monitoring is disabled in the spec")
    if not observed.monitoring_available:
        return cond(
            "MonitoringConfigured",
            False,
            "PrometheusOperatorNotInstalled",
            "the Prometheus Operator CRDs are not installed: ServiceMonitor and PrometheusRule "
            "are skipped (the dashboard ConfigMap is still rendered)",
        )
    return cond("MonitoringConfigured", True, "Configured", "ServiceMonitor and alerts applied")


NETWORK_POLICIES_ENFORCED_BY_CNI = (
    "they take effect only where the CNI enforces NetworkPolicies (EKS: the VPC CNI with "
    'enableNetworkPolicy: "true")'
)


def network_policies_condition(spec: WebStackSpec, observed: Observed, cond: ConditionMaker) -> JSON:
    """`NetworkPoliciesApplied`: the stack's NetworkPolicies exist in the cluster. Whether the CNI enforces
    them is not visible through the API, so the message says what it takes."""
    if not spec.security.network_policies:
        message = "security.networkPolicies is false: no NetworkPolicy isolates the stack's pods"
        return cond("NetworkPoliciesApplied", False, "Disabled", message)
    applied, desired = observed.network_policies_applied, observed.network_policies_desired
    if desired > 0 and applied == desired:
        message = f"{applied} NetworkPolicies applied (precise allows, and a default deny for the rest); "
        return cond("NetworkPoliciesApplied", True, "Applied", message + NETWORK_POLICIES_ENFORCED_BY_CNI)
    message = f"{applied} of {desired} NetworkPolicies applied"
    return cond("NetworkPoliciesApplied", False, "NotApplied", message)


def reconciled_condition(spec: WebStackSpec, problem: Problem | None, cond: ConditionMaker) -> JSON:
    """`Reconciled`: whether every desired object is applied; a paused stack applies nothing."""
    if spec.paused:
        return cond("Reconciled", False, "Paused", "spec.paused is true: the operator changes nothing")
    if problem is not None:
        return cond("Reconciled", False, problem.reason, problem.message)
    return cond("Reconciled", True, "Applied", "every desired object is applied")


def prerequisites_condition(check: PrerequisiteCheck, cond: ConditionMaker) -> JSON:
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

"""Placements a user might write, bad and good: one list for the offline models' tests and the apiserver's.

Each bad case names the field the apiserver reports and the message it must say, so a unit test (pydantic)
and an integration test (the CRD's schema and CEL on a real kube-apiserver) hold both to the same words.
"""

from __future__ import annotations

from typing import Any

from webstack_operator.api.cache_types import CACHE_PLACEMENT_ONLY_MANAGED
from webstack_operator.api.database_types import DATABASE_PLACEMENT_ONLY_MANAGED
from webstack_operator.api.field_types import ONE_LABEL_KEY_MESSAGE, SELECTOR_KEY_MESSAGE
from webstack_operator.api.placement_types import (
    MATCH_LABEL_KEYS_OUTSIDE_SELECTOR,
    MIN_DOMAINS_NEEDS_DO_NOT_SCHEDULE,
    REQUIREMENT_VALUES,
    SELECTOR_NEEDS_A_TERM,
    TOLERATION_EXISTS_HAS_NO_VALUE,
    TOLERATION_SECONDS_ONLY_NO_EXECUTE,
    TOLERATION_WITHOUT_KEY_NEEDS_EXISTS,
)

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
ZONE = "topology.kubernetes.io/zone"
SPOT_TOLERATION = {"key": "spot", "operator": "Equal", "value": "true", "effect": "NoSchedule"}
# A node selector key that is no label key: both the models and the apiserver (its messageExpression) say
# it, quoted, before SELECTOR_KEY_MESSAGE.
BAD_SELECTOR_KEY = "node group"


def spread(**fields: Any) -> dict[str, Any]:
    """A zone spread constraint, with `fields` changed."""
    return {"maxSkew": 1, "topologyKey": ZONE, "whenUnsatisfiable": "DoNotSchedule", **fields}


def with_placement(section: str, placement: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """A minimal spec with `placement` on `section` (`spec` for the stack-wide one)."""
    spec: dict[str, Any] = {"backend": {"image": IMAGE}}
    if section == "spec":
        spec["placement"] = placement
    else:
        spec[section] = {**spec.get(section, {}), **extra, "placement": placement}
    return spec


# (id, spec, the field the apiserver names, the message both the apiserver and the models say)
INVALID: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "exists-with-value",
        with_placement("backend", {"tolerations": [{"key": "spot", "operator": "Exists", "value": "true"}]}),
        "spec.backend.placement.tolerations[0].value",
        TOLERATION_EXISTS_HAS_NO_VALUE,
    ),
    (
        "no-key-needs-exists",
        with_placement("spec", {"tolerations": [{"operator": "Equal", "value": "true"}]}),
        "spec.placement.tolerations[0]",
        TOLERATION_WITHOUT_KEY_NEEDS_EXISTS,
    ),
    (
        "empty-key-needs-exists",
        with_placement("cache", {"tolerations": [{"key": "", "operator": "", "effect": "NoSchedule"}]}),
        "spec.cache.placement.tolerations[0]",
        TOLERATION_WITHOUT_KEY_NEEDS_EXISTS,
    ),
    (
        "toleration-seconds-only-no-execute",
        with_placement("frontend", {"tolerations": [{**SPOT_TOLERATION, "tolerationSeconds": 300}]}),
        "spec.frontend.placement.tolerations[0].tolerationSeconds",
        TOLERATION_SECONDS_ONLY_NO_EXECUTE,
    ),
    (
        "min-domains-only-do-not-schedule",
        with_placement(
            "database",
            {"topologySpreadConstraints": [spread(whenUnsatisfiable="ScheduleAnyway", minDomains=3)]},
        ),
        "spec.database.placement.topologySpreadConstraints[0].minDomains",
        MIN_DOMAINS_NEEDS_DO_NOT_SCHEDULE,
    ),
    (
        "empty-label-selector",
        with_placement("cache", {"topologySpreadConstraints": [spread(labelSelector={})]}),
        "spec.cache.placement.topologySpreadConstraints[0].labelSelector",
        SELECTOR_NEEDS_A_TERM,
    ),
    (
        "in-needs-values",
        with_placement(
            "backend",
            {
                "topologySpreadConstraints": [
                    spread(labelSelector={"matchExpressions": [{"key": "tier", "operator": "In"}]})
                ]
            },
        ),
        "spec.backend.placement.topologySpreadConstraints[0].labelSelector.matchExpressions[0].values",
        REQUIREMENT_VALUES,
    ),
    (
        "match-label-keys-in-match-labels",
        with_placement(
            "backend",
            {
                "topologySpreadConstraints": [
                    spread(labelSelector={"matchLabels": {"tier": "api"}}, matchLabelKeys=["tier"])
                ]
            },
        ),
        "spec.backend.placement.topologySpreadConstraints[0].matchLabelKeys",
        MATCH_LABEL_KEYS_OUTSIDE_SELECTOR,
    ),
    (
        "match-label-keys-in-match-expressions",
        with_placement(
            "spec",
            {
                "topologySpreadConstraints": [
                    spread(
                        labelSelector={"matchExpressions": [{"key": "tier", "operator": "Exists"}]},
                        matchLabelKeys=["pod-template-hash", "tier"],
                    )
                ]
            },
        ),
        "spec.placement.topologySpreadConstraints[0].matchLabelKeys",
        MATCH_LABEL_KEYS_OUTSIDE_SELECTOR,
    ),
    (
        "match-label-keys-in-the-filled-selector",
        with_placement(
            "frontend", {"topologySpreadConstraints": [spread(matchLabelKeys=["app.kubernetes.io/instance"])]}
        ),
        "spec.frontend.placement.topologySpreadConstraints[0].matchLabelKeys",
        MATCH_LABEL_KEYS_OUTSIDE_SELECTOR,
    ),
    (
        "node-selector-key",
        with_placement("spec", {"nodeSelector": {BAD_SELECTOR_KEY: "apps"}}),
        "spec.placement.nodeSelector",
        SELECTOR_KEY_MESSAGE,
    ),
    (
        "topology-key",
        with_placement("backend", {"topologySpreadConstraints": [spread(topologyKey="zone!")]}),
        "spec.backend.placement.topologySpreadConstraints[0].topologyKey",
        ONE_LABEL_KEY_MESSAGE,
    ),
    (
        "match-label-keys-are-label-keys",
        with_placement("backend", {"topologySpreadConstraints": [spread(matchLabelKeys=["pod template"])]}),
        "spec.backend.placement.topologySpreadConstraints[0].matchLabelKeys[0]",
        ONE_LABEL_KEY_MESSAGE,
    ),
    (
        "database-placement-only-managed",
        with_placement(
            "database",
            {"nodeSelector": {"kubernetes.io/os": "linux"}},
            mode="External",
            credentials={"secretRef": {"name": "rds"}},
        ),
        "spec.database.placement",
        DATABASE_PLACEMENT_ONLY_MANAGED,
    ),
    (
        "cache-placement-only-managed",
        with_placement("cache", {"nodeSelector": {"kubernetes.io/os": "linux"}}, mode="Disabled"),
        "spec.cache.placement",
        CACHE_PLACEMENT_ONLY_MANAGED,
    ),
]

# Bad by the schema alone (bounds, enums, patterns, list-map keys): the apiserver words these itself.
INVALID_BY_SCHEMA: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "max-skew-at-least-one",
        with_placement("backend", {"topologySpreadConstraints": [spread(maxSkew=0)]}),
        "spec.backend.placement.topologySpreadConstraints[0].maxSkew",
        "should be greater than or equal to 1",
    ),
    (
        "effect-enum",
        with_placement("spec", {"tolerations": [{**SPOT_TOLERATION, "effect": "NoRun"}]}),
        "spec.placement.tolerations[0].effect",
        'supported values: "NoSchedule", "PreferNoSchedule", "NoExecute", ""',
    ),
    (
        "spread-keys-unique",
        with_placement("frontend", {"topologySpreadConstraints": [spread(), spread(maxSkew=2)]}),
        "spec.frontend.placement.topologySpreadConstraints",
        # What server-side apply says; the models say it too (placement_types.duplicate_spread).
        f'duplicate entries for key [topologyKey="{ZONE}",whenUnsatisfiable="DoNotSchedule"]',
    ),
    (
        "node-taints-policy-enum",
        with_placement("backend", {"topologySpreadConstraints": [spread(nodeTaintsPolicy="Always")]}),
        "spec.backend.placement.topologySpreadConstraints[0].nodeTaintsPolicy",
        'supported values: "Honor", "Ignore"',
    ),
    (
        "node-selector-value",
        with_placement("spec", {"nodeSelector": {"eks.amazonaws.com/nodegroup": "apps group"}}),
        "spec.placement.nodeSelector.eks.amazonaws.com/nodegroup",
        "should match",
    ),
]

# Kubernetes-valid placements the models and the CRD must accept as they are (id, placement).
VALID: list[tuple[str, dict[str, Any]]] = [
    (
        "spread-only-the-current-revision",
        {"topologySpreadConstraints": [spread(matchLabelKeys=["pod-template-hash"])]},
    ),
    (
        "spread-with-node-policies",
        {
            "topologySpreadConstraints": [
                spread(
                    labelSelector={"matchLabels": {"app.kubernetes.io/part-of": "webstack"}},
                    matchLabelKeys=["rollouts-pod-template-hash"],
                    nodeAffinityPolicy="Ignore",
                    nodeTaintsPolicy="Honor",
                )
            ]
        },
    ),
    # An empty key with Exists tolerates every taint; an empty operator is Kubernetes' Equal.
    ("toleration-empty-key-exists", {"tolerations": [{"key": "", "operator": "Exists"}]}),
    ("toleration-empty-operator", {"tolerations": [{**SPOT_TOLERATION, "operator": ""}]}),
]

# The EKS placement docs/placement.md shows: spot for the stateless pods, on-demand for the database.
EKS: dict[str, Any] = {
    "backend": {"image": IMAGE},
    "placement": {
        "tolerations": [SPOT_TOLERATION],
        "topologySpreadConstraints": [spread(maxSkew=1, whenUnsatisfiable="ScheduleAnyway")],
    },
    "database": {
        "placement": {
            "nodeSelector": {"eks.amazonaws.com/capacityType": "ON_DEMAND"},
            "tolerations": [],
        }
    },
}

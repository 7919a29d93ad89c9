"""Where pods run: `Placement` (node selector, tolerations, topology spread) and the rule that merges it.

Kubernetes-shaped on purpose: a user copies a toleration or a spread constraint from an EKS node group's or
Karpenter's documentation unchanged. A stack-wide `spec.placement` is the default of every workload; a
component's own `placement` replaces it field by field (`Placement.over`).
"""

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.field_types import LabelKey, LabelMap, LabelValue, TolerationKey
from webstack_operator.api.model_base import ApiModel

TOLERATION_EXISTS_HAS_NO_VALUE = (
    "operator Exists matches every value of the key: leave value out, or use operator Equal"
)
TOLERATION_WITHOUT_KEY_NEEDS_EXISTS = (
    "a toleration with no key or an empty one must have operator Exists (it then tolerates every taint)"
)
TOLERATION_SECONDS_ONLY_NO_EXECUTE = (
    "tolerationSeconds applies only to effect NoExecute: it is how long the pod stays on a node after a "
    "NoExecute taint appears"
)


class Toleration(ApiModel):
    """A taint the pods tolerate, as in a pod spec (e.g. the `spot` taint of an EKS node group)."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "self.operator != 'Exists' || !has(self.value) || self.value == ''",
                TOLERATION_EXISTS_HAS_NO_VALUE,
                field_path=".value",
            ),
            cel(
                "(has(self.key) && self.key != '') || self.operator == 'Exists'",
                TOLERATION_WITHOUT_KEY_NEEDS_EXISTS,
            ),
            cel(
                "!has(self.tolerationSeconds) || (has(self.effect) && self.effect == 'NoExecute')",
                TOLERATION_SECONDS_ONLY_NO_EXECUTE,
                field_path=".tolerationSeconds",
            ),
        )
    )

    key: TolerationKey | None = Field(
        default=None, description="The taint's key; omitted or empty (with operator Exists), every taint."
    )
    operator: Literal["Exists", "Equal", ""] = Field(
        default="Equal",
        description="`Equal` (or empty, as Kubernetes reads it): the taint's value is `value`. `Exists`: any "
        "value.",
    )
    value: LabelValue | None = Field(default=None, description="The taint's value (operator Equal).")
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute", ""] | None = Field(
        default=None, description="The taint's effect; omitted or empty, every effect."
    )
    toleration_seconds: int | None = Field(
        default=None,
        ge=0,
        description="With effect NoExecute: how long the pod stays once the taint appears; omitted, forever.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "Toleration":
        if self.operator == "Exists" and self.value:
            raise ValueError(TOLERATION_EXISTS_HAS_NO_VALUE)
        if not self.key and self.operator != "Exists":
            raise ValueError(TOLERATION_WITHOUT_KEY_NEEDS_EXISTS)
        if self.toleration_seconds is not None and self.effect != "NoExecute":
            raise ValueError(TOLERATION_SECONDS_ONLY_NO_EXECUTE)
        return self


REQUIREMENT_VALUES = "operators In and NotIn need at least one value; Exists and DoesNotExist take none"


class LabelSelectorRequirement(ApiModel):
    """One expression of a label selector."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "(self.operator in ['In', 'NotIn']) == (has(self.values) && size(self.values) > 0)",
                REQUIREMENT_VALUES,
                field_path=".values",
            )
        )
    )

    key: LabelKey = Field(description="The label's key.")
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"] = Field(
        description="How the label's value relates to `values`."
    )
    values: list[LabelValue] | None = Field(
        default=None, max_length=16, description="The values, for operators In and NotIn."
    )

    @model_validator(mode="after")
    def _values_fit_operator(self) -> "LabelSelectorRequirement":
        if (self.operator in ("In", "NotIn")) != bool(self.values):
            raise ValueError(REQUIREMENT_VALUES)
        return self


SELECTOR_NEEDS_A_TERM = (
    "a labelSelector needs matchLabels or matchExpressions; leave labelSelector out to spread the "
    "component's own pods"
)


class LabelSelector(ApiModel):
    """Which pods a spread constraint counts."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "(has(self.matchLabels) && size(self.matchLabels) > 0) || "
                "(has(self.matchExpressions) && size(self.matchExpressions) > 0)",
                SELECTOR_NEEDS_A_TERM,
            )
        )
    )

    match_labels: LabelMap | None = Field(default=None, description="Labels the pods carry, all of them.")
    match_expressions: list[LabelSelectorRequirement] | None = Field(
        default=None, max_length=8, description="Expressions the pods' labels satisfy, all of them."
    )

    @model_validator(mode="after")
    def _has_a_term(self) -> "LabelSelector":
        if not self.match_labels and not self.match_expressions:
            raise ValueError(SELECTOR_NEEDS_A_TERM)
        return self


MIN_DOMAINS_NEEDS_DO_NOT_SCHEDULE = "minDomains applies only to whenUnsatisfiable DoNotSchedule"
# The keys of the selector the operator fills in when labelSelector is left out (objects/labels.py's
# selector_labels; a unit test holds them equal: the api floor may not import objects).
FILLED_SELECTOR_KEYS = (
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
)
MATCH_LABEL_KEYS_OUTSIDE_SELECTOR = (
    "a key in matchLabelKeys may not also be a key of the labelSelector (its matchLabels or "
    "matchExpressions; without labelSelector, of the selector the operator fills in: "
    f"{', '.join(FILLED_SELECTOR_KEYS)}): Kubernetes refuses such a pod"
)
_CEL_FILLED_KEYS = "[" + ", ".join(f"'{k}'" for k in FILLED_SELECTOR_KEYS) + "]"
_CEL_KEY_IN_SELECTOR = (
    "((has(self.labelSelector.matchLabels) && k in self.labelSelector.matchLabels) || "
    "(has(self.labelSelector.matchExpressions) && self.labelSelector.matchExpressions.exists(e, e.key == k)))"
)


class TopologySpreadConstraint(ApiModel):
    """How evenly the pods spread over a topology (zones, nodes, capacity types), as in a pod spec."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "!has(self.minDomains) || self.whenUnsatisfiable == 'DoNotSchedule'",
                MIN_DOMAINS_NEEDS_DO_NOT_SCHEDULE,
                field_path=".minDomains",
            ),
            cel(
                "!has(self.matchLabelKeys) || self.matchLabelKeys.all(k, has(self.labelSelector) ? "
                f"!{_CEL_KEY_IN_SELECTOR} : !(k in {_CEL_FILLED_KEYS}))",
                MATCH_LABEL_KEYS_OUTSIDE_SELECTOR,
                field_path=".matchLabelKeys",
            ),
        )
    )

    max_skew: int = Field(ge=1, description="Most pods one domain may have over the emptiest one.")
    topology_key: LabelKey = Field(
        description="The node label whose values are the domains, e.g. `topology.kubernetes.io/zone`."
    )
    when_unsatisfiable: Literal["DoNotSchedule", "ScheduleAnyway"] = Field(
        description="`DoNotSchedule`: a pod waits rather than skew more. `ScheduleAnyway`: a preference."
    )
    label_selector: LabelSelector | None = Field(
        default=None,
        description="The pods counted; omitted, the component's own pods (its selector labels).",
    )
    min_domains: int | None = Field(
        default=None,
        ge=1,
        description="With DoNotSchedule: fewer eligible domains than this count as empty ones.",
    )
    match_label_keys: list[LabelKey] | None = Field(
        default=None,
        max_length=8,
        description="Pod label keys whose values, taken from each new pod, narrow the pods counted to "
        "those with the same values: `pod-template-hash` counts only a Deployment's current revision "
        "(an Argo Rollouts canary's pods carry `rollouts-pod-template-hash` instead). Not a key of "
        "`labelSelector`.",
    )
    node_affinity_policy: Literal["Honor", "Ignore"] | None = Field(
        default=None,
        description="`Honor` (Kubernetes' default): only nodes the pods' nodeSelector admits count as "
        "domains. `Ignore`: every node does.",
    )
    node_taints_policy: Literal["Honor", "Ignore"] | None = Field(
        default=None,
        description="`Honor`: nodes with taints the pods do not tolerate are left out of the domains. "
        "`Ignore` (Kubernetes' default): they count.",
    )

    @model_validator(mode="after")
    def _min_domains_blocks(self) -> "TopologySpreadConstraint":
        if self.min_domains is not None and self.when_unsatisfiable != "DoNotSchedule":
            raise ValueError(MIN_DOMAINS_NEEDS_DO_NOT_SCHEDULE)
        return self

    @model_validator(mode="after")
    def _match_label_keys_outside_selector(self) -> "TopologySpreadConstraint":
        selector = self.label_selector
        taken = set(FILLED_SELECTOR_KEYS)
        if selector is not None:
            taken = set(selector.match_labels or {}) | {e.key for e in selector.match_expressions or ()}
        if taken & set(self.match_label_keys or ()):
            raise ValueError(MATCH_LABEL_KEYS_OUTSIDE_SELECTOR)
        return self


SPREAD_KEYS_UNIQUE = "topologySpreadConstraints may hold one constraint per topologyKey and whenUnsatisfiable"


def duplicate_spread(topology_key: str, when_unsatisfiable: str) -> str:
    """The apiserver's words for a second constraint with the same list-map keys (server-side apply's
    structured-merge-diff: `duplicate entries for key [k="v",...]`, keys sorted), then ours."""
    entry = f'[topologyKey="{topology_key}",whenUnsatisfiable="{when_unsatisfiable}"]'
    return f"duplicate entries for key {entry}: {SPREAD_KEYS_UNIQUE}"


class Placement(ApiModel):
    """Where pods run. On `spec` it is every workload's default; on a component, each field it sets
    replaces that field of the default whole (a list or map is not merged entry by entry), and a field it
    leaves out is the default's. `nodeSelector: {}`, `tolerations: []` or `topologySpreadConstraints: []`
    on a component clears the default's field for that component."""

    node_selector: LabelMap | None = Field(
        default=None,
        description="Node labels the pods need, e.g. `eks.amazonaws.com/nodegroup: apps` or "
        "`eks.amazonaws.com/capacityType: SPOT`.",
    )
    tolerations: list[Toleration] | None = Field(
        default=None, max_length=16, description="Taints the pods tolerate."
    )
    topology_spread_constraints: list[TopologySpreadConstraint] | None = Field(
        default=None,
        max_length=8,
        description="How the pods spread over zones or nodes. Replaces the backend's and frontend's "
        "built-in spread (zones, then nodes, as a preference); `[]` spreads nothing.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["topologyKey", "whenUnsatisfiable"],
        },
    )

    @model_validator(mode="after")
    def _spread_keys_unique(self) -> "Placement":
        seen: set[tuple[str, str]] = set()
        for c in self.topology_spread_constraints or ():
            if (c.topology_key, c.when_unsatisfiable) in seen:
                raise ValueError(duplicate_spread(c.topology_key, c.when_unsatisfiable))
            seen.add((c.topology_key, c.when_unsatisfiable))
        return self

    def over(self, default: "Placement | None") -> "Placement":
        """This placement with every field it leaves out taken from `default`."""
        if default is None:
            return self
        inherited = {
            name: getattr(default, name) for name in Placement.model_fields if getattr(self, name) is None
        }
        return self.model_copy(update=inherited)


def effective_placement(own: Placement | None, default: Placement | None) -> Placement:
    """A workload's placement: its component's own over the stack-wide default (either may be absent)."""
    return (own or Placement()).over(default)

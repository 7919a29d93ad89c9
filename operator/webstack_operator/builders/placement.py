"""Where a workload's pods run: the pod spec fields of its placement (node selector, tolerations, spread).

Every workload with a pod template takes its fields from here, so the merge rule (a component's own
placement over the stack-wide one, field by field: api/placement_types.py) is applied in one place.
"""

from webstack_operator.api.placement_types import Placement, TopologySpreadConstraint, effective_placement
from webstack_operator.builders.context import StackContext
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels


def _spread(ctx: StackContext, component: str, constraint: TopologySpreadConstraint) -> JSON:
    """A constraint as the pod spec takes it; without a labelSelector, it counts the component's own pods
    (a selector is what makes a spread mean anything, and users should not have to repeat our labels)."""
    rendered: JSON = constraint.model_dump(mode="json", by_alias=True, exclude_none=True)
    if constraint.label_selector is None:
        rendered["labelSelector"] = {"matchLabels": labels.selector_labels(ctx.name, component)}
    return rendered


def scheduling(
    ctx: StackContext,
    component: str,
    own: Placement | None,
    *,
    built_in_spread: list[JSON] | None = None,
) -> JSON:
    """The pod spec fields that place `component`'s pods: its `own` placement over `spec.placement`.

    `built_in_spread` is what the component spreads by when neither placement sets
    `topologySpreadConstraints` (the backend's and frontend's zone and node preference). A field nobody
    sets is not rendered, so a stack without placement renders exactly as before placement existed.
    """
    placement = effective_placement(own, ctx.spec.placement)
    fields: JSON = {}
    # An empty map or list is left out like an absent one: the apiserver returns neither.
    if placement.node_selector:
        fields["nodeSelector"] = dict(placement.node_selector)
    if placement.tolerations:
        fields["tolerations"] = [
            t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in placement.tolerations
        ]
    own_spread = placement.topology_spread_constraints
    spread = built_in_spread if own_spread is None else [_spread(ctx, component, c) for c in own_spread]
    if spread:
        fields["topologySpreadConstraints"] = spread
    return fields

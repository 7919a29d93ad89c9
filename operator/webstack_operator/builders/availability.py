"""What keeps a component's replicas available: spread over zones and nodes, and a disruption budget."""

from webstack_operator.builders.context import StackContext
from webstack_operator.builders.metadata import object_meta
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels


def topology_spread(ctx: StackContext, component: str) -> list[JSON]:
    """Spread replicas over zones and nodes when possible, without blocking scheduling when not."""
    selector = {"matchLabels": labels.selector_labels(ctx.name, component)}
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def pod_disruption_budget(ctx: StackContext, name: str, component: str) -> JSON:
    """At most one pod down by voluntary disruption; never blocks a drain (maxUnavailable, not
    minAvailable, and unhealthy pods may always be evicted)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(ctx, name, component),
        "spec": {
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": labels.selector_labels(ctx.name, component)},
        },
    }

"""Replicas kept available: spread over zones and nodes, and a disruption budget that never blocks a drain."""

from __future__ import annotations

from tests.support.rendered_stacks import make_stack

from webstack_operator.builders.availability import pod_disruption_budget, topology_spread
from webstack_operator.objects import labels


def test_topology_spread_prefers_zones_then_nodes_without_blocking() -> None:
    spread = topology_spread(make_stack(), labels.BACKEND)
    assert [c["topologyKey"] for c in spread] == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]
    assert {c["whenUnsatisfiable"] for c in spread} == {"ScheduleAnyway"}
    assert spread[0]["labelSelector"] == {"matchLabels": labels.selector_labels("shop", labels.BACKEND)}


def test_pod_disruption_budget_allows_one_down_and_evicting_the_unhealthy() -> None:
    pdb = pod_disruption_budget(make_stack(), "shop-backend", labels.BACKEND)
    assert (pdb["kind"], pdb["metadata"]["name"]) == ("PodDisruptionBudget", "shop-backend")
    assert pdb["spec"]["maxUnavailable"] == 1 and "minAvailable" not in pdb["spec"]
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"

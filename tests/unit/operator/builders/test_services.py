"""A Service selecting one component's pods."""

from __future__ import annotations

from tests.support.rendered_stacks import make_stack

from webstack_operator.builders.services import service
from webstack_operator.objects import labels

PORTS = [{"name": "http", "port": 80, "targetPort": "http"}]


def test_service_selects_the_components_pods() -> None:
    svc = service(make_stack(), "shop-frontend", labels.FRONTEND, PORTS)
    assert svc["spec"] == {
        "type": "ClusterIP",
        "selector": labels.selector_labels("shop", labels.FRONTEND),
        "ports": PORTS,
    }


def test_a_headless_service_narrowed_by_an_extra_selector() -> None:
    svc = service(
        make_stack(), "shop-db", labels.DATABASE, PORTS, headless=True, extra_selector={"role": "x"}
    )
    assert svc["spec"]["clusterIP"] == "None"
    assert svc["spec"]["selector"]["role"] == "x"

"""NetworkPolicies: default deny for the stack's pods, then exactly the request path."""

from __future__ import annotations

from typing import Any

from tests.unit.operator.builders.stacks import find, kinds, make_stack, render

from webstack_operator.builders.migrate import migration_pod_template
from webstack_operator.builders.network import ANYWHERE, network_policies


def _policies(**sections: Any) -> list[dict[str, Any]]:
    return network_policies(make_stack(**sections))


def _ports(rule: dict[str, Any]) -> list[int]:
    return [p["port"] for p in rule.get("ports", [])]


def test_default_deny_selects_only_this_stack() -> None:
    deny = find(_policies(), "NetworkPolicy", "shop-default-deny")
    assert deny["spec"] == {
        "podSelector": {
            "matchLabels": {"app.kubernetes.io/part-of": "webstack", "app.kubernetes.io/instance": "shop"}
        },
        "policyTypes": ["Ingress", "Egress"],
    }


def test_request_path() -> None:
    policies = _policies()
    assert kinds(policies) == [
        "NetworkPolicy/shop-default-deny",
        "NetworkPolicy/shop-frontend",
        "NetworkPolicy/shop-backend",
        "NetworkPolicy/shop-migrate",
        "NetworkPolicy/shop-postgres",
        "NetworkPolicy/shop-redis",
    ]
    backend = find(policies, "NetworkPolicy", "shop-backend")["spec"]
    frontend_rule = backend["ingress"][0]
    assert frontend_rule["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "frontend"
    assert _ports(frontend_rule) == [8000]
    scrape = backend["ingress"][1]
    assert scrape["from"] == [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    ]
    egress_ports = [_ports(rule) for rule in backend["egress"]]
    assert egress_ports == [[53, 53], [5432], [6379]]
    postgres = find(policies, "NetworkPolicy", "shop-postgres")["spec"]
    assert postgres["egress"] == []
    assert (
        postgres["ingress"][0]["from"][0]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        == "backend"
    )


def test_ingress_opens_backend_and_external_services_open_egress() -> None:
    backend = find(
        _policies(
            ingress={"enabled": True, "host": "shop.example.com"},
            database={"mode": "External", "credentials": {"secretRef": {"name": "rds"}}},
            monitoring={"enabled": False},
        ),
        "NetworkPolicy",
        "shop-backend",
    )["spec"]
    assert backend["ingress"][1] == {"ports": [{"protocol": "TCP", "port": 8000}]}
    assert {"to": ANYWHERE} in backend["egress"]
    assert len(backend["ingress"]) == 2


def test_irsa_opens_egress() -> None:
    backend = find(
        _policies(backend={"iamRoleArn": "arn:aws:iam::123456789012:role/x"}), "NetworkPolicy", "shop-backend"
    )
    assert {"to": ANYWHERE} in backend["spec"]["egress"]


def test_switched_off() -> None:
    assert _policies(security={"networkPolicies": False}) == []


def _admits(rule: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    return any(
        all(pod_labels.get(k) == v for k, v in peer.get("podSelector", {}).get("matchLabels", {}).items())
        and "podSelector" in peer
        for peer in rule.get("from", rule.get("to", []))
    )


def test_the_migration_job_reaches_postgres_and_dns_only() -> None:
    ctx = make_stack()
    policies = network_policies(ctx)
    job_pod = migration_pod_template(ctx)["metadata"]["labels"]
    postgres_pod = find(render(), "StatefulSet", "shop-postgres")["spec"]["template"]["metadata"]["labels"]
    # The pod is under default deny, and selected by its own policy (no ingress at all).
    deny = find(policies, "NetworkPolicy", "shop-default-deny")["spec"]["podSelector"]["matchLabels"]
    assert deny.items() <= job_pod.items()
    own = find(policies, "NetworkPolicy", "shop-migrate")["spec"]
    assert own["podSelector"]["matchLabels"].items() <= job_pod.items()
    assert own["ingress"] == []
    assert [_ports(rule) for rule in own["egress"]] == [[53, 53], [5432]]
    assert _admits(own["egress"][1], postgres_pod)
    # Postgres lets it in; the backend's and Redis's policies do not select it.
    postgres = find(policies, "NetworkPolicy", "shop-postgres")["spec"]
    assert any(_admits(rule, job_pod) and _ports(rule) == [5432] for rule in postgres["ingress"])
    for name in ("shop-backend", "shop-redis", "shop-frontend"):
        selector = find(policies, "NetworkPolicy", name)["spec"]["podSelector"]["matchLabels"]
        assert not selector.items() <= job_pod.items(), name


def test_the_migration_job_reaches_an_external_database() -> None:
    policies = _policies(database={"mode": "External", "credentials": {"secretRef": {"name": "rds"}}})
    own = find(policies, "NetworkPolicy", "shop-migrate")["spec"]
    assert own["egress"] == [
        {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
        {"to": ANYWHERE},
    ]
    assert "NetworkPolicy/shop-postgres" not in kinds(policies)

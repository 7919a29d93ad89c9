"""NetworkPolicies: exactly the request path, and default deny for the stack's pods, applied last."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.rendered_stacks import find, kinds, make_stack, render

from webstack_operator.builders.migrate import migration_pod_template
from webstack_operator.builders.network import network_policies

DNS_RULE = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
}
PRIVATE = [{"ipBlock": {"cidr": c}} for c in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")]
ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]
RDS = {"secretRef": {"name": "rds"}}
COMPONENT = "app.kubernetes.io/component"


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


def _selects(policy: dict[str, Any], pod_labels: dict[str, str]) -> bool:
    wanted = policy["spec"]["podSelector"].get("matchLabels", {})
    return all(pod_labels.get(k) == v for k, v in wanted.items())


@pytest.mark.parametrize(
    "sections",
    [
        {},
        {"database": {"mode": "External", "credentials": RDS}},
        {"cache": {"mode": "External", "url": "redis://c:6379/0"}},
    ],
    ids=["managed", "external-db", "external-cache"],
)
def test_in_apply_order_no_pod_is_isolated_before_its_allows(sections: dict[str, Any]) -> None:
    """The operator applies one object at a time, in this order, possibly over running pods (policies
    turned on, or deleted and re-created): after each one, every pod some applied policy selects must
    already have its own component's policy, which isolates it and allows its rows together. A deny that
    selects it alone would refuse its allowed connections until the allows followed: the window the real
    node showed when the default deny came first (test_connectivity_probes)."""
    objects = render(**sections)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    workloads = [o for o in objects if o["kind"] in ("Deployment", "StatefulSet", "Rollout", "Job")]
    pods = [w["spec"]["template"]["metadata"]["labels"] for w in workloads]
    assert len(pods) >= 3 and len(policies) >= 4
    for applied in range(1, len(policies) + 1):
        prefix = policies[:applied]
        for pod in pods:
            own = [
                p
                for p in policies
                if p["spec"]["podSelector"]["matchLabels"].get(COMPONENT) == pod[COMPONENT]
            ]
            if any(_selects(p, pod) for p in prefix):
                assert own and own[0] in prefix, (pod[COMPONENT], kinds(prefix))


def test_request_path() -> None:
    policies = _policies()
    assert kinds(policies) == [
        "NetworkPolicy/shop-frontend",
        "NetworkPolicy/shop-backend",
        "NetworkPolicy/shop-migrate",
        "NetworkPolicy/shop-credentials",
        "NetworkPolicy/shop-postgres",
        "NetworkPolicy/shop-redis",
        "NetworkPolicy/shop-default-deny",
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
    clients = [
        peer["podSelector"]["matchLabels"]["app.kubernetes.io/component"]
        for peer in postgres["ingress"][0]["from"]
    ]
    assert clients == ["backend", "migrate", "credentials"]  # the rotation's Jobs log in as the backend does
    rotation = find(policies, "NetworkPolicy", "shop-credentials")["spec"]
    assert rotation["ingress"] == [] and [_ports(rule) for rule in rotation["egress"]] == [[53, 53], [5432]]


def test_clients_come_from_the_private_ranges_by_default() -> None:
    policies = _policies(ingress={"enabled": True, "host": "shop.example.com"}, monitoring={"enabled": False})
    backend = find(policies, "NetworkPolicy", "shop-backend")["spec"]
    assert backend["ingress"][1] == {"from": PRIVATE, "ports": [{"protocol": "TCP", "port": 8000}]}
    assert len(backend["ingress"]) == 2
    frontend = find(policies, "NetworkPolicy", "shop-frontend")["spec"]
    assert frontend["ingress"] == [{"from": PRIVATE, "ports": [{"protocol": "TCP", "port": 8080}]}]


def test_clients_come_from_the_source_cidrs_when_given() -> None:
    alb = ["10.0.0.0/24", "10.0.1.0/24"]
    policies = _policies(ingress={"enabled": True, "host": "shop.example.com", "sourceCidrs": alb})
    sources = [{"ipBlock": {"cidr": c}} for c in alb]
    assert find(policies, "NetworkPolicy", "shop-backend")["spec"]["ingress"][1]["from"] == sources
    assert find(policies, "NetworkPolicy", "shop-frontend")["spec"]["ingress"][0]["from"] == sources


def test_without_an_ingress_the_backend_admits_only_the_frontend_and_the_scraper() -> None:
    backend = find(_policies(), "NetworkPolicy", "shop-backend")["spec"]
    assert all("from" in rule for rule in backend["ingress"])
    assert len(backend["ingress"]) == 2


def test_dns_only_to_the_cluster_dns_pods() -> None:
    for policy in _policies():
        for rule in policy["spec"].get("egress", []):
            if any(p["port"] == 53 for p in rule["ports"]):
                assert rule == DNS_RULE, policy["metadata"]["name"]


def test_dns_selector_is_configurable() -> None:
    dns = {"namespaceLabels": {"kubernetes.io/metadata.name": "dns"}, "podLabels": {"app": "coredns"}}
    backend = find(_policies(security={"dns": dns}), "NetworkPolicy", "shop-backend")["spec"]
    assert backend["egress"][0]["to"] == [
        {
            "namespaceSelector": {"matchLabels": dns["namespaceLabels"]},
            "podSelector": {"matchLabels": dns["podLabels"]},
        }
    ]


def test_an_external_database_only_on_its_port_and_networks() -> None:
    anywhere = _policies(database={"mode": "External", "credentials": RDS})
    for name in ("shop-backend", "shop-migrate"):
        egress = find(anywhere, "NetworkPolicy", name)["spec"]["egress"]
        assert egress[1] == {"to": ANYWHERE, "ports": [{"protocol": "TCP", "port": 5432}]}, name
    narrowed = _policies(
        database={"mode": "External", "credentials": RDS, "port": 6432, "cidrs": ["10.0.64.0/20"]}
    )
    egress = find(narrowed, "NetworkPolicy", "shop-backend")["spec"]["egress"]
    assert egress[1] == {
        "to": [{"ipBlock": {"cidr": "10.0.64.0/20"}}],
        "ports": [{"protocol": "TCP", "port": 6432}],
    }
    assert "NetworkPolicy/shop-postgres" not in kinds(narrowed)


def test_an_external_cache_only_on_its_port_and_networks() -> None:
    from_url = _policies(cache={"mode": "External", "url": "rediss://cache.example.com:6380/0"})
    backend = find(from_url, "NetworkPolicy", "shop-backend")["spec"]
    assert backend["egress"][2] == {"to": ANYWHERE, "ports": [{"protocol": "TCP", "port": 6380}]}
    assert "NetworkPolicy/shop-redis" not in kinds(from_url)
    from_secret = _policies(
        cache={
            "mode": "External",
            "secretRef": {"name": "redis"},
            "cidrs": ["10.0.80.0/24", "2600:1f18::/56"],
        }
    )
    backend = find(from_secret, "NetworkPolicy", "shop-backend")["spec"]
    assert backend["egress"][2] == {
        "to": [{"ipBlock": {"cidr": "10.0.80.0/24"}}, {"ipBlock": {"cidr": "2600:1f18::/56"}}],
        "ports": [{"protocol": "TCP", "port": 6379}],
    }


def test_a_disabled_cache_opens_nothing() -> None:
    backend = find(_policies(cache={"mode": "Disabled"}), "NetworkPolicy", "shop-backend")["spec"]
    assert [_ports(rule) for rule in backend["egress"]] == [[53, 53], [5432]]


def test_irsa_opens_https_only_and_only_for_the_backend() -> None:
    policies = _policies(backend={"iamRoleArn": "arn:aws:iam::123456789012:role/x"})
    backend = find(policies, "NetworkPolicy", "shop-backend")["spec"]
    assert backend["egress"][-1] == {"to": ANYWHERE, "ports": [{"protocol": "TCP", "port": 443}]}
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            assert "ports" in rule, policy["metadata"]["name"]
    migrate = find(policies, "NetworkPolicy", "shop-migrate")["spec"]
    assert [_ports(rule) for rule in migrate["egress"]] == [[53, 53], [5432]]


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
    policies = _policies(database={"mode": "External", "credentials": RDS})
    own = find(policies, "NetworkPolicy", "shop-migrate")["spec"]
    assert own["egress"] == [DNS_RULE, {"to": ANYWHERE, "ports": [{"protocol": "TCP", "port": 5432}]}]
    assert "NetworkPolicy/shop-postgres" not in kinds(policies)


def test_the_database_client_service_matches_the_policies_as_ekss_agent_requires() -> None:
    """EKS's VPC CNI agent filters egress before kube-proxy's DNAT, so a connection to `<stack>-postgres-rw`
    still carries the ClusterIP. Its controller adds a Service's ClusterIP to an egress rule only when the
    Service's selector equals the rule's podSelector exactly and the Service's port is the rule's port (and
    the container's, named alike); kube-proxy-based enforcers need nothing (they see the pod IP)."""
    objects = render()
    client = find(objects, "Service", "shop-postgres-rw")["spec"]
    [service_port] = client["ports"]
    sts = find(objects, "StatefulSet", "shop-postgres")["spec"]
    [container_port] = sts["template"]["spec"]["containers"][0]["ports"]
    assert (service_port["targetPort"], service_port["port"]) == (container_port["name"], 5432)
    assert container_port["containerPort"] == service_port["port"]
    for name in ("shop-backend", "shop-migrate"):
        egress = find(objects, "NetworkPolicy", name)["spec"]["egress"]
        to_database = [rule for rule in egress if any("podSelector" in peer for peer in rule["to"])]
        database_rules = [
            rule
            for rule in to_database
            if any(peer["podSelector"]["matchLabels"] == client["selector"] for peer in rule["to"])
        ]
        assert len(database_rules) == 1, (name, egress)
        [rule] = database_rules
        assert rule["ports"] == [{"protocol": "TCP", "port": service_port["port"]}], name
    postgres = find(objects, "NetworkPolicy", "shop-postgres")["spec"]
    assert postgres["podSelector"]["matchLabels"] == client["selector"]
    assert [_ports(rule) for rule in postgres["ingress"]] == [[service_port["port"]]]

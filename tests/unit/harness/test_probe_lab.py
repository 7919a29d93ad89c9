"""The connectivity model put on the real node (tests/support/probe_lab.py, probe_world.py) and its
expansion (connectivity_model.py): which pods carry which labels where, where each probe is sent from,
and what the comparison reports."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.support.connectivity import Port
from tests.support.connectivity_model import (
    Endpoint,
    connections_to_ask,
    load_sample,
    set_differences,
)
from tests.support.probe_lab import CONTROL_PORT, Agent, Agentry, batches, pod_name, pods_for
from tests.support.probe_run import ProbeLab
from tests.support.probe_world import GATEWAY, HOST_LINK, setup_commands

FULL = load_sample("full")
LAB_NAMESPACES = {"team-a": "probe-team-a-x", "team-b": "probe-team-b-x"}


def _pods() -> dict[str, dict]:  # type: ignore[type-arg]
    pods = pods_for(
        FULL.endpoints, FULL.objects, LAB_NAMESPACES, Agentry("AGENT", "webstack.lab/python:x"), FULL.ports
    )
    return {p["metadata"]["name"]: p for p in pods}


def test_each_stack_pod_carries_its_rendered_templates_labels_and_ports() -> None:
    pods = _pods()
    for workload in (o for o in FULL.objects if o["kind"] in ("Deployment", "StatefulSet", "Rollout", "Job")):
        template = workload["spec"]["template"]
        [endpoint] = [
            e for e in FULL.endpoints if e.in_stack and dict(e.labels) == template["metadata"]["labels"]
        ]
        pod = pods[pod_name(endpoint)]
        assert pod["metadata"]["labels"] == template["metadata"]["labels"]
        assert pod["metadata"]["namespace"] == "probe-team-a-x"
        declared = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
        assert pod["spec"]["containers"][0].get("ports", []) == declared


def test_stand_ins_keep_the_namespaces_policies_name_and_every_pod_listens_on_every_port() -> None:
    pods = _pods()
    by_namespace = {p["metadata"]["namespace"] for p in pods.values()}
    assert by_namespace == {"probe-team-a-x", "probe-team-b-x", "kube-system", "monitoring"}
    pod_endpoints = [e for e in FULL.endpoints if e.is_pod]
    assert len(pods) == len(pod_endpoints)  # names unique
    expected = [f"{p.protocol.lower()}/{p.number}" for p in FULL.ports]
    for pod in pods.values():
        container = pod["spec"]["containers"][0]
        assert container["args"] == expected
        assert container["image"] == "webstack.lab/python:x" and "AGENT" in container["command"]
        assert container["command"][-3:] == ["--quiet", "--control", str(CONTROL_PORT)]
        assert pod["spec"]["securityContext"]["sysctls"][0]["name"] == "net.ipv4.ip_unprivileged_port_start"
    assert {"udp/53", "tcp/53", "tcp/22"} <= set(expected)


def test_a_pod_probes_from_itself_and_the_world_from_each_stand_ins_address() -> None:
    pod = Endpoint("backend", "10.0.32.1", frozenset(), "team-a", (), True)
    other = Endpoint("a neighbour pod", "10.0.40.5", frozenset(), "team-a")
    alb = Endpoint("the ALB", "10.0.0.10", frozenset())
    tcp = Port("TCP", 8000)
    ips = {"backend": "10.244.250.7", "a neighbour pod": "10.244.250.8"}
    grouped = batches([(pod, other, tcp), (alb, pod, tcp), (other, pod, tcp)], ips, "10.0.200.5")
    assert grouped == {
        Agent("10.244.250.7", None): [
            (("backend", "a neighbour pod", tcp), [None, "10.244.250.8", 8000, "TCP"])
        ],
        Agent("10.0.200.5", "10.0.0.10"): [
            (("the ALB", "backend", tcp), ["10.0.0.10", "10.244.250.7", 8000, "TCP"])
        ],
        Agent("10.244.250.8", None): [
            (("a neighbour pod", "backend", tcp), [None, "10.244.250.7", 8000, "TCP"])
        ],
    }


def test_only_connections_with_a_stack_pod_on_one_end_are_asked() -> None:
    asked = connections_to_ask(FULL.endpoints, FULL.ports)
    assert all(s.in_stack or d.in_stack for s, d, _ in asked)
    assert all(s is not d for s, d, _ in asked)
    stack = sum(e.in_stack for e in FULL.endpoints)
    n = len(FULL.endpoints)
    assert len(asked) == (stack * (n - 1) + (n - stack) * stack) * len(FULL.ports)


def test_the_table_among_what_a_run_stands_up_drops_only_the_missing_endpoints() -> None:
    everything = FULL.connections
    ipv4 = FULL.among(e.name for e in FULL.endpoints if not e.ipv6)
    assert ipv4 < everything
    assert set(everything - ipv4) == {c for c in everything if "IPv6" in c[0] + c[1] or "fc00" in c[0] + c[1]}


def test_differences_name_each_connection_and_its_direction() -> None:
    tcp = Port("TCP", 5432)
    lines = set_differences("probe", {("frontend", "Postgres", tcp)}, {("backend", "Postgres", tcp)})
    assert lines == [
        "probe allowed but not in the table: frontend -> Postgres TCP 5432",
        "probe in the table but denied: backend -> Postgres TCP 5432",
    ]
    assert set_differences("probe", [], []) == []


def test_the_world_routes_each_address_through_its_veth() -> None:
    commands = setup_commands(["10.0.0.10", "198.51.100.7"])
    assert ["ip", "route", "add", "10.0.0.10/32", "dev", HOST_LINK] in commands
    assert ["ip", "route", "add", "198.51.100.7/32", "dev", HOST_LINK] in commands
    assert ["ip", "addr", "add", f"{GATEWAY}/32", "dev", HOST_LINK] in commands
    assert commands[0] == ["ip", "netns", "add", "webstack-probe-world"]


class _Kubectl:
    """Records kubectl calls; `get networkpolicy -o name` answers with the names given."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        self.calls: list[tuple[str, ...]] = []

    def kubectl(self, *args: str, **_: object) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        out = "\n".join(f"networkpolicy.networking.k8s.io/{n}" for n in self.names) if "get" in args else ""
        return subprocess.CompletedProcess(args, 0, out, "")


def test_only_the_policies_not_kept_are_deleted(tmp_path: Path) -> None:
    """`keep` may be a one-shot iterable: each name is checked against all of it (a generator consumed
    by the first check once deleted five of six policies, which looked like the enforcer forgetting them)."""
    fake = _Kubectl(["shop-backend", "shop-postgres", "lab-node-dns"])
    lab = ProbeLab(fake, FULL.endpoints, FULL.ports, tmp_path)  # type: ignore[arg-type]
    lab.delete_policies_except(n for n in ("shop-backend", "shop-postgres"))
    deletes = [c for c in fake.calls if "delete" in c]
    assert deletes == [
        ("-n", lab.namespace, "delete", "networkpolicy.networking.k8s.io/lab-node-dns", "--wait=true")
    ]

"""What the samples' NetworkPolicies allow, as cyclonus's policy engine computes it, is exactly the intended
table (docs/network-connectivity.yaml, shown in docs/architecture.md): nothing more, nothing less.

Each sample is rendered by the operator's own code (`render_file`). Its workloads (Deployments,
StatefulSets, the Rollout, the Job) give the pods of the stack; stand-ins give everything around it:
the cluster DNS pods, Prometheus, pods in the same and other namespaces (some with look-alike labels),
another stack's pods, the ALB, hosts in the VPC and on the internet, and an address just outside every
network a policy names. Every connection with a stack pod on at least one end, on every port of interest,
is put to cyclonus (tools/go/cyclonus, built by `make cluster-binaries`); its verdicts per direction are
compared with the table's rows expanded over the same stand-ins. A row whose source is a stack pod is an
egress allow of that pod, one whose destination is a stack pod an ingress allow; a connection between
two stack pods needs both. Then each allow rule of each policy is widened in turn, and the comparison must
fail every time, so this test is shown to bite.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.connectivity import COMPONENTS, Port, Row, load_intended

from kubelocal.binaries import cyclonus_verdicts
from webstack_operator.builders.credentials_rotation import COMPONENT as ROTATION
from webstack_operator.cli.main import render_file
from webstack_operator.objects.labels import COMPONENT, INSTANCE, standard_labels

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Rollout", "Job")
NAMESPACE = "team-a"
PRIVATE = "private addresses"
ANY = "any address"
# Ports put to the analyzer besides those the table names (and the other protocol on each of those): a
# blocked one must be shown blocked.
EXTRA_PORTS = tuple(Port.parse(p) for p in ("TCP 22", "TCP 80", "TCP 9090"))


@dataclass(frozen=True)
class Endpoint:
    """A pod (namespace and labels) or an address outside the cluster (namespace None), and the table's
    peers it stands for."""

    name: str
    ip: str
    peers: frozenset[str]
    namespace: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    in_stack: bool = False

    def peer(self) -> dict[str, Any]:
        """A cyclonus TrafficPeer."""
        if self.namespace is None:
            return {"IP": self.ip}
        return {
            "IP": self.ip,
            "Internal": {
                "PodLabels": dict(self.labels),
                "NamespaceLabels": {"kubernetes.io/metadata.name": self.namespace},
                "Namespace": self.namespace,
            },
        }


def _pod(name: str, ip: str, namespace: str, labels: dict[str, str], *peers: str) -> Endpoint:
    return Endpoint(name, ip, frozenset((PRIVATE, ANY, *peers)), namespace, tuple(sorted(labels.items())))


def _address(name: str, ip: str, *peers: str) -> Endpoint:
    return Endpoint(name, ip, frozenset((ANY, *peers)))


def _other_stack(component: str, ip: str) -> Endpoint:
    labels = {
        "app.kubernetes.io/part-of": "webstack",
        "app.kubernetes.io/instance": "other",
        "app.kubernetes.io/component": component,
    }
    return _pod(f"other stack's {component}", ip, NAMESPACE, labels)


def _helm_release(component: str, ip: str) -> Endpoint:
    """A pod of something else installed as `shop` (Helm sets app.kubernetes.io/instance to the release)."""
    labels = {"app.kubernetes.io/instance": "shop", "app.kubernetes.io/component": component}
    return _pod(f"Helm release shop's {component}", ip, NAMESPACE, labels)


# Which table peers each stand-in belongs to is written out here, by hand, from the samples' specs and
# the peers' definitions in docs/network-connectivity.yaml; never computed from the policies.
STAND_INS = (
    _pod("cluster DNS", "10.0.40.2", "kube-system", {"k8s-app": "kube-dns"}, "cluster DNS pods"),
    _pod("metrics-server", "10.0.40.3", "kube-system", {"k8s-app": "metrics-server"}),
    _pod(
        "Prometheus",
        "10.0.40.4",
        "monitoring",
        {"app.kubernetes.io/name": "prometheus"},
        "monitoring namespace",
    ),
    _pod("a neighbour pod", "10.0.40.5", NAMESPACE, {"app": "neighbour"}),
    _pod("a look-alike DNS pod", "10.0.40.6", NAMESPACE, {"k8s-app": "kube-dns"}),
    _pod("a pod in team-b", "10.0.40.7", "team-b", {"app": "other"}),
    *(_other_stack(component, f"10.0.41.{i}") for i, component in enumerate(COMPONENTS.values(), start=1)),
    *(_helm_release(component, f"10.0.42.{i}") for i, component in enumerate(COMPONENTS.values(), start=1)),
    _address("the ALB", "10.0.0.10", PRIVATE, "ALB subnets"),
    _address("the ALB's second subnet", "10.0.2.10", PRIVATE, "ALB subnets"),
    _address("a VPC host beside the first ALB subnet", "10.0.1.5", PRIVATE),
    _address("a VPC host beside the second ALB subnet", "10.0.3.5", PRIVATE),
    _address("RDS", "10.0.64.15", PRIVATE, "database subnets"),
    _address("RDS standby", "10.0.96.15", PRIVATE, "database subnets"),
    _address("a VPC host beside the first database subnet", "10.0.80.5", PRIVATE),
    _address("a VPC host beside the second database subnet", "10.0.112.5", PRIVATE),
    _address("a VPC host", "10.0.200.5", PRIVATE),
    _address("a host in 172.16.0.0/12", "172.20.0.5", PRIVATE),
    _address("a host in 192.168.0.0/16", "192.168.1.5", PRIVATE),
    _address("a host in fc00::/7", "fd00::5", PRIVATE),
    _address("an internet host", "198.51.100.7"),
    _address("an internet host (IPv6)", "2001:db8::7"),
    _address("just outside 10.0.0.0/8", "11.0.0.5"),
    _address("just outside 172.16.0.0/12", "172.0.0.5"),
    _address("just outside 192.168.0.0/16", "192.169.0.5"),
    _address("just outside fc00::/7", "fe00::5"),
)


def stack_endpoints(objects: list[dict[str, Any]]) -> list[Endpoint]:
    """One pod per rendered workload, with its pod template's labels, in the pod network 10.0.32.0/19."""
    by_component = {label: name for name, label in COMPONENTS.items()}
    pods: list[Endpoint] = []
    for obj in objects:
        if obj["kind"] not in WORKLOAD_KINDS:
            continue
        labels = obj["spec"]["template"]["metadata"]["labels"]
        name = by_component[labels["app.kubernetes.io/component"]]
        assert name not in {p.name for p in pods}, f"two workloads of the {name}"
        ip = f"10.0.32.{10 + len(pods)}"
        pods.append(
            Endpoint(
                name, ip, frozenset((name, PRIVATE, ANY)), NAMESPACE, tuple(sorted(labels.items())), True
            )
        )
    # A credentials rotation's Jobs render only while one runs: their pod, labelled as its template is,
    # wherever the stack renders their policy.
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        selected = policy["spec"]["podSelector"].get("matchLabels") or {}
        if selected.get(COMPONENT) == ROTATION:
            name, ip = by_component[ROTATION], f"10.0.32.{10 + len(pods)}"
            labels = standard_labels(selected[INSTANCE], ROTATION)
            pods.append(
                Endpoint(
                    name, ip, frozenset((name, PRIVATE, ANY)), NAMESPACE, tuple(sorted(labels.items())), True
                )
            )
    return pods


Connection = tuple[str, str, Port]


def expand(
    rows: list[Row], sample: str, endpoints: list[Endpoint]
) -> tuple[set[Connection], set[Connection]]:
    """(egress allows of stack pods, ingress allows of stack pods) that the sample's rows promise."""
    egress: set[Connection] = set()
    ingress: set[Connection] = set()
    for row in rows:
        if sample not in row.samples:
            continue
        sources = [e for e in endpoints if e.peers & set(row.sources)]
        destinations = [e for e in endpoints if e.peers & set(row.destinations)]
        for src in sources:
            for dst in destinations:
                if src is dst:
                    continue
                for port in row.ports:
                    if src.in_stack and src.name in row.sources:
                        egress.add((src.name, dst.name, port))
                    if dst.in_stack and dst.name in row.destinations:
                        ingress.add((src.name, dst.name, port))
    return egress, ingress


@dataclass(frozen=True)
class Verdicts:
    egress: frozenset[Connection]
    ingress: frozenset[Connection]
    connections: frozenset[Connection]


def analyze(
    policy_sets: list[list[dict[str, Any]]], endpoints: list[Endpoint], ports: list[Port], workdir: Path
) -> list[Verdicts]:
    """Ask cyclonus, for each set of policies, about every connection with a stack pod on one end."""
    asked: list[tuple[Endpoint, Endpoint, Port]] = [
        (src, dst, port)
        for src in endpoints
        for dst in endpoints
        if src is not dst and (src.in_stack or dst.in_stack)
        for port in ports
    ]
    traffic = [
        {
            "Source": src.peer(),
            "Destination": dst.peer(),
            "ResolvedPort": port.number,
            "ResolvedPortName": "",
            "Protocol": port.protocol,
        }
        for src, dst, port in asked
    ]
    args = [str(cyclonus_verdicts())]
    for index, policies in enumerate(policy_sets):
        folder = workdir / f"policies-{index}"
        folder.mkdir(parents=True)
        for policy in policies:
            (folder / f"{policy['metadata']['name']}.json").write_text(json.dumps(policy), encoding="utf-8")
        args += ["--policy-path", str(folder)]
    done = subprocess.run(
        args, input=json.dumps(traffic), capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)["results"]
    assert len(results) == len(policy_sets)
    out = []
    for policies, result in zip(policy_sets, results, strict=True):
        assert result["policies"] == len(policies), result
        egress, ingress, connections = set(), set(), set()
        for (src, dst, port), verdict in zip(asked, result["verdicts"], strict=True):
            key = (src.name, dst.name, port)
            if src.in_stack and verdict["egress"]:
                egress.add(key)
            if dst.in_stack and verdict["ingress"]:
                ingress.add(key)
            if verdict["allowed"]:
                connections.add(key)
        out.append(Verdicts(frozenset(egress), frozenset(ingress), frozenset(connections)))
    return out


@dataclass(frozen=True)
class Sample:
    name: str
    policies: list[dict[str, Any]]
    endpoints: list[Endpoint]
    ports: list[Port]
    egress: frozenset[Connection]
    ingress: frozenset[Connection]

    @property
    def connections(self) -> frozenset[Connection]:
        """A connection is allowed when the source may send (its egress, or no policy of ours) and the
        destination admits it (its ingress, or no policy of ours)."""
        stack = {e.name for e in self.endpoints if e.in_stack}
        pairs = {(s, d, p) for s, d, p in self.egress | self.ingress}
        return frozenset(
            (s, d, p)
            for s, d, p in pairs
            if (s not in stack or (s, d, p) in self.egress) and (d not in stack or (s, d, p) in self.ingress)
        )


def load_sample(name: str) -> Sample:
    paths, rows = load_intended()
    objects = render_file(str(paths[name]))
    endpoints = [*stack_endpoints(objects), *STAND_INS]
    named = {port for row in rows for port in row.ports}
    other_protocol = {Port("UDP" if p.protocol == "TCP" else "TCP", p.number) for p in named}
    ports = sorted(named | other_protocol | set(EXTRA_PORTS), key=lambda p: (p.protocol, p.number))
    egress, ingress = expand(rows, name, endpoints)
    policies = [o for o in objects if o["kind"] == "NetworkPolicy"]
    return Sample(name, policies, endpoints, ports, frozenset(egress), frozenset(ingress))


def differences(sample: Sample, verdicts: Verdicts) -> list[str]:
    """Every way the analyzer's answer differs from the table, one line each; empty when they agree."""
    out = []
    for what, actual, expected in (
        ("egress", verdicts.egress, sample.egress),
        ("ingress", verdicts.ingress, sample.ingress),
        ("connection", verdicts.connections, sample.connections),
    ):
        for src, dst, port in sorted(actual - expected, key=str):
            out.append(f"{what} allowed but not in the table: {src} -> {dst} {port}")
        for src, dst, port in sorted(expected - actual, key=str):
            out.append(f"{what} in the table but denied: {src} -> {dst} {port}")
    return out


SAMPLES = ("minimal", "full", "external-db")


@pytest.mark.parametrize("name", SAMPLES)
def test_policies_allow_exactly_the_table(name: str, tmp_path: Path) -> None:
    sample = load_sample(name)
    stack = sorted(e.name for e in sample.endpoints if e.in_stack)
    assert len(stack) >= 3, stack
    assert sample.connections, "the table promises nothing for this sample"
    [verdicts] = analyze([sample.policies], sample.endpoints, sample.ports, tmp_path)
    problems = differences(sample, verdicts)
    assert not problems, f"{name}: {len(problems)} differences:\n" + "\n".join(problems[:60])


# ---------------------------------------------------------------------------------------------------------
# Widening any allow rule must be caught
# ---------------------------------------------------------------------------------------------------------

ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]


def _parent(cidr: str) -> str:
    """The network one prefix bit wider: 10.0.0.0/24 -> 10.0.0.0/23."""
    return str(ipaddress.ip_network(cidr).supernet())


def _peer_mutations(peer: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if "ipBlock" in peer:
        cidr = peer["ipBlock"]["cidr"]
        if not cidr.endswith("/0"):
            yield f"widen {cidr} to {_parent(cidr)}", {"ipBlock": {"cidr": _parent(cidr)}}
        return
    for key in ("podSelector", "namespaceSelector"):
        if key not in peer:
            continue
        if len(peer) > 1:
            yield f"drop {key}", {k: v for k, v in peer.items() if k != key}
        yield f"empty {key}", {**peer, key: {}}
        labels = peer[key].get("matchLabels", {})
        if len(labels) > 1:
            for label in labels:
                rest = {k: v for k, v in labels.items() if k != label}
                yield f"drop {key} label {label}", {**peer, key: {"matchLabels": rest}}


def rule_mutations(policy: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each way of widening one allow rule of the policy: (what, the widened policy)."""
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(policy["spec"].get(direction, [])):
            where = f"{policy['metadata']['name']} {direction}[{index}]"

            def widened(new_rule: dict[str, Any], d: str = direction, i: int = index) -> dict[str, Any]:
                out = copy.deepcopy(policy)
                out["spec"][d][i] = new_rule
                return out

            if "ports" in rule:
                yield f"{where}: allow every port", widened({k: v for k, v in rule.items() if k != "ports"})
                for port in rule["ports"]:
                    other = {**port, "protocol": "UDP" if port["protocol"] == "TCP" else "TCP"}
                    if other not in rule["ports"]:
                        what = f"{where}: also {other['protocol']} {other['port']}"
                        yield what, widened({**rule, "ports": [*rule["ports"], other]})
            peers = rule.get(peers_key)
            if peers is None:
                continue
            if peers != ANYWHERE:
                yield f"{where}: any address", widened({**rule, peers_key: ANYWHERE})
            for p, peer in enumerate(peers):
                for what, new_peer in _peer_mutations(peer):
                    new_peers = copy.deepcopy(peers)
                    new_peers[p] = new_peer
                    yield f"{where} peer {p}: {what}", widened({**rule, peers_key: new_peers})


# Widenings no analyzer can see, because another rule of the same policy already allows everything they
# add: with ingress.sourceCidrs unset and the Ingress on, the backend admits every private address (every
# pod included) on TCP 8000, so its rules for the frontend (ingress[0]) and Prometheus (ingress[2]) add
# nothing on that port. Widening them in any other way (another port, a public address) is caught.
INVISIBLE = {
    "external-db": {
        "shop-backend ingress[0] peer 0: empty podSelector",
        "shop-backend ingress[0] peer 0: drop podSelector label app.kubernetes.io/part-of",
        "shop-backend ingress[0] peer 0: drop podSelector label app.kubernetes.io/instance",
        "shop-backend ingress[0] peer 0: drop podSelector label app.kubernetes.io/component",
        "shop-backend ingress[2] peer 0: empty namespaceSelector",
    }
}


@pytest.mark.parametrize("name", SAMPLES)
def test_widening_any_allow_rule_is_caught(name: str, tmp_path: Path) -> None:
    sample = load_sample(name)
    widenings = [
        (what, [*sample.policies[:index], widened, *sample.policies[index + 1 :]])
        for index, policy in enumerate(sample.policies)
        for what, widened in rule_mutations(policy)
    ]
    tried = len(widenings)
    all_verdicts = analyze([policies for _, policies in widenings], sample.endpoints, sample.ports, tmp_path)
    uncaught = [
        what
        for (what, _), verdicts in zip(widenings, all_verdicts, strict=True)
        if not differences(sample, verdicts)
    ]
    assert tried >= 20, tried
    expected = INVISIBLE.get(name, set())
    assert set(uncaught) == expected, (
        f"{name}: of {tried} widenings, these pass unnoticed:\n"
        + "\n".join(sorted(set(uncaught) - expected))
        + "\nand these, expected to, were caught: "
        + ", ".join(sorted(expected - set(uncaught)))
    )

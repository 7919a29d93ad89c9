"""The connectivity table expanded over concrete endpoints: each sample's stack pods (from its rendered
workloads) and the stand-ins around them, the connections worth asking about, and what the table says of
each. One piece of code for both verdicts: the analyzer's (tests/integration/operator/
test_network_connectivity.py, cyclonus) and the real packets' (tests/integration/realnode/
test_connectivity_probes.py).

Which table peers each stand-in belongs to is written out here, by hand, from the samples' specs and the
peers' definitions in docs/network-connectivity.yaml; never computed from the policies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.support.connectivity import COMPONENTS, Port, Row, load_intended

from webstack_operator.builders.credentials_rotation import COMPONENT as ROTATION
from webstack_operator.cli.main import render_file
from webstack_operator.objects.labels import COMPONENT, INSTANCE, standard_labels

WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Rollout", "Job")
NAMESPACE = "team-a"
PRIVATE = "private addresses"
ANY = "any address"
SAMPLES = ("minimal", "full", "external-db")
# Ports asked about besides those the table names (and the other protocol on each of those): a blocked one
# must be shown blocked.
EXTRA_PORTS = tuple(Port.parse(p) for p in ("TCP 22", "TCP 80", "TCP 9090"))

Connection = tuple[str, str, Port]


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

    @property
    def is_pod(self) -> bool:
        return self.namespace is not None

    @property
    def ipv6(self) -> bool:
        return ":" in self.ip

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
        pods.append(_stack_pod(name, ip, labels))
    # A credentials rotation's Jobs render only while one runs: their pod, labelled as its template is,
    # wherever the stack renders their policy.
    for policy in (o for o in objects if o["kind"] == "NetworkPolicy"):
        selected = policy["spec"]["podSelector"].get("matchLabels") or {}
        if selected.get(COMPONENT) == ROTATION:
            name, ip = by_component[ROTATION], f"10.0.32.{10 + len(pods)}"
            pods.append(_stack_pod(name, ip, standard_labels(selected[INSTANCE], ROTATION)))
    return pods


def _stack_pod(name: str, ip: str, labels: dict[str, str]) -> Endpoint:
    return Endpoint(name, ip, frozenset((name, PRIVATE, ANY)), NAMESPACE, tuple(sorted(labels.items())), True)


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


def connections_to_ask(endpoints: list[Endpoint], ports: list[Port]) -> list[tuple[Endpoint, Endpoint, Port]]:
    """Every connection with a stack pod on at least one end, on every port: what the policies decide."""
    return [
        (src, dst, port)
        for src in endpoints
        for dst in endpoints
        if src is not dst and (src.in_stack or dst.in_stack)
        for port in ports
    ]


@dataclass(frozen=True)
class Sample:
    name: str
    objects: list[dict[str, Any]]
    endpoints: list[Endpoint]
    ports: list[Port]
    egress: frozenset[Connection]
    ingress: frozenset[Connection]

    @property
    def policies(self) -> list[dict[str, Any]]:
        """The rendered NetworkPolicies, in the operator's apply order."""
        return [o for o in self.objects if o["kind"] == "NetworkPolicy"]

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

    def among(self, names: Iterable[str]) -> frozenset[Connection]:
        """The allowed connections whose both ends are among `names` (the endpoints a run could stand up)."""
        kept = set(names)
        return frozenset(c for c in self.connections if c[0] in kept and c[1] in kept)


def load_sample(name: str) -> Sample:
    paths, rows = load_intended()
    objects = render_file(str(paths[name]))
    endpoints = [*stack_endpoints(objects), *STAND_INS]
    named = {port for row in rows for port in row.ports}
    other_protocol = {Port("UDP" if p.protocol == "TCP" else "TCP", p.number) for p in named}
    ports = sorted(named | other_protocol | set(EXTRA_PORTS), key=lambda p: (p.protocol, p.number))
    egress, ingress = expand(rows, name, endpoints)
    return Sample(name, objects, endpoints, ports, frozenset(egress), frozenset(ingress))


def set_differences(what: str, actual: Iterable[Connection], expected: Iterable[Connection]) -> list[str]:
    """Every way two sets of allowed connections differ, one line each; empty when they agree."""
    actual, expected = set(actual), set(expected)
    out = [
        f"{what} allowed but not in the table: {s} -> {d} {p}"
        for s, d, p in sorted(actual - expected, key=str)
    ]
    out += [
        f"{what} in the table but denied: {s} -> {d} {p}" for s, d, p in sorted(expected - actual, key=str)
    ]
    return out

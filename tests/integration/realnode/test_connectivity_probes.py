"""The connectivity table (docs/network-connectivity.yaml) enforced by kube-router on the real node and
probed with real packets: for each sample, every connection the analyzer test asks about
(tests/integration/operator/test_network_connectivity.py: the same model, tests/support/
connectivity_model.py) is one real TCP or UDP attempt with a timeout, and the connections that open must
be exactly the table's, expanded over the same stand-ins.

The stack's pods and the stand-in pods are probe agents carrying the rendered pod templates' (or the
stand-ins') labels, listening on every port of the table; the address stand-ins live in a network
namespace on the node (tests/support/probe_world.py). The samples' NetworkPolicies are applied unchanged,
one sample at a time, in a fresh namespace standing for the samples' team-a. Then what no analyzer sees:
real DNS lookups over UDP and TCP, a Service's ClusterIP against its pod's IP (and a pod through its own
Service), the policies deleted and created again after the pods in the operator's apply order and a full
sync for another namespace (both polled throughout), and widened rules.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from tests.support.connectivity_model import (
    SAMPLES,
    Connection,
    Sample,
    connections_to_ask,
    load_sample,
    set_differences,
)
from tests.support.cyclonus import analyze
from tests.support.policy_mutations import widenings
from tests.support.probe_lab import JSON, declared_ports, describe, opened, unexpected
from tests.support.probe_run import ProbeLab

from kubelocal.realnode.layout import CLUSTER_DNS_IP
from kubelocal.target import KubeTarget
from kubelocal.wait import Timeout, eventually
from localdemo.lab_stack import stack_node_dns_policy

SETTLE = 90  # seconds kube-router may take to program a change, as a bound, not a figure


@pytest.fixture(scope="module")
def samples() -> dict[str, Sample]:
    return {name: load_sample(name) for name in SAMPLES}


@pytest.fixture(scope="module")
def lab(
    cluster: KubeTarget, real_node: str, samples: dict[str, Sample], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ProbeLab]:
    """The full sample has every component: its model's pods are every sample's pods."""
    if cluster.local is None:
        pytest.skip("the outside world is a network namespace on the lab's own real node")
    full = samples["full"]
    lab = ProbeLab(cluster, full.endpoints, full.ports, tmp_path_factory.mktemp("probes"))
    started = time.monotonic()
    try:
        lab.start(full.objects)
        print(
            f"[figures] probe lab up ({len(lab.pods)} pods and the world): {time.monotonic() - started:.1f}s"
        )
        yield lab
    finally:
        lab.stop()


def settle(
    lab: ProbeLab, sample: Sample, expected: frozenset[Connection], what: str
) -> dict[Connection, str]:
    """Polls the matrix until what opens is `expected` and every other attempt was refused; fails with
    the differences last seen."""
    seen: list[dict[Connection, str]] = []

    def observe() -> dict[Connection, str]:
        seen.append(lab.observe(sample))
        return seen[-1]

    try:
        return eventually(
            observe,
            until=lambda v: opened(v) == expected and not unexpected(v),
            timeout=SETTLE,
            interval=1,
            what=what,
        )
    except Timeout:
        last = seen[-1] if seen else {}
        problems = set_differences("probe", opened(last), expected)
        odd = [f"{c}: {v}" for c, v in sorted(unexpected(last).items(), key=str)]
        raise AssertionError(
            f"{what}: {len(problems)} differences\n" + "\n".join(problems[:60] + odd[:20])
        ) from None


def stage(lab: ProbeLab, sample: Sample) -> dict[Connection, str]:
    """The sample's rendered policies, unchanged and no other, and the matrix once they hold."""
    lab.install(sample.policies)
    return settle(lab, sample, sample.among(e.name for e in lab.among(sample)), f"{sample.name}: the table")


def test_without_policies_every_connection_opens(lab: ProbeLab, samples: dict[str, Sample]) -> None:
    """The contrast that makes each refusal a policy's verdict: every agent answers on every port, TCP and
    UDP, from every source, the world included."""
    full = samples["full"]
    lab.install([])
    matrix = settle(lab, full, frozenset(lab_connections(lab, full)), "every connection open")
    assert len(matrix) > 3000, len(matrix)


def lab_connections(lab: ProbeLab, sample: Sample) -> list[Connection]:
    return [(s.name, d.name, p) for s, d, p in connections_to_ask(lab.among(sample), sample.ports)]


@pytest.mark.parametrize("name", ["external-db", "minimal", "full"])
def test_the_probe_matrix_equals_the_table(lab: ProbeLab, samples: dict[str, Sample], name: str) -> None:
    sample = samples[name]
    started = time.monotonic()
    matrix = stage(lab, sample)
    refused = [c for c, v in matrix.items() if v == "refused"]
    print(
        f"[figures] {name}: {len(matrix)} probes, {len(opened(matrix))} open, {len(refused)} refused, "
        f"settled in {time.monotonic() - started:.1f}s"
    )
    # What opened is the table expanded over the same stand-ins (stage waited for nothing else).
    assert opened(matrix) == sample.among(e.name for e in lab.among(sample))
    assert refused and len(refused) + len(opened(matrix)) == len(matrix)
    assert {p.protocol for _, _, p in opened(matrix)} == {"TCP", "UDP"}  # DNS to the DNS stand-in


def test_dns_over_udp_and_tcp_reaches_the_node_only_with_the_labs_allowance(
    lab: ProbeLab, samples: dict[str, Sample]
) -> None:
    """Real lookups of kubernetes.default through the cluster DNS Service, whose endpoint is CoreDNS on
    the node address. The rendered rule allows DNS to cluster DNS *pods*, which the lab does not have, so
    under the sample's policies alone every lookup is refused; with `lab-node-dns` the frontend, the
    backend and the migration Job resolve over UDP and TCP, and Postgres and Redis (no egress) still
    cannot. A pod under no policy resolves throughout."""
    stage(lab, samples["full"])
    resolvers = ("frontend", "backend", "migration Job")
    everyone = (*resolvers, "Postgres", "Redis", "a neighbour pod")
    pairs = [(src, CLUSTER_DNS_IP, 53, f"DNS/{t}") for src in everyone for t in ("UDP", "TCP")]

    def lookups() -> dict[tuple[str, str], str]:
        return {(p[0], p[3]): v for p, v in zip(pairs, lab.probe_pairs(pairs), strict=True)}

    alone = {(p[0], p[3]): ("open" if p[0] == "a neighbour pod" else "refused") for p in pairs}
    assert eventually(lookups, until=lambda v: v == alone, timeout=SETTLE, what="lookups refused") == alone
    lab.apply([stack_node_dns_policy(lab.namespace)])
    try:
        allowed = {k: ("refused" if k[0] in ("Postgres", "Redis") else "open") for k in alone}
        assert eventually(lookups, until=lambda v: v == allowed, timeout=SETTLE, what="lookups") == allowed
    finally:
        lab.delete_policies_except(p["metadata"]["name"] for p in samples["full"].policies)


def test_a_service_cluster_ip_gets_its_pods_verdict(lab: ProbeLab, samples: dict[str, Sample]) -> None:
    """kube-router filters after kube-proxy's DNAT: a connection to a Service's ClusterIP is judged as one
    to the pod behind it, for each of the sample's Services (the rendered ones, applied unchanged), from
    each source but the pod itself (below)."""
    full = samples["full"]
    stage(lab, full)
    services = [o for o in full.objects if o["kind"] == "Service" and o["spec"].get("clusterIP") != "None"]
    lab.apply(services)
    targets = service_targets(lab, services, full)
    sources = ("frontend", "backend", "migration Job", "a neighbour pod", "Prometheus", "the ALB")
    asked = [(s, t) for s in sources for t in targets if t.pod != s]
    via_service = [(s, t.ip, t.port, "TCP") for s, t in asked]
    via_pod = [(s, lab.ips[t.pod], t.target, "TCP") for s, t in asked]

    def differing() -> dict[str, tuple[str, str]]:
        pairs = zip(asked, lab.probe_pairs(via_service), lab.probe_pairs(via_pod), strict=True)
        return {f"{s} -> {t.name}:{t.port}": (a, b) for (s, t), a, b in pairs if a != b}

    assert eventually(differing, until=lambda d: not d, timeout=SETTLE, what="the same verdicts") == {}
    verdicts = lab.probe_pairs(via_pod)
    assert set(verdicts) == {"open", "refused"}, verdicts
    print(f"[figures] {len(asked)} Service connections, each with its pod's verdict")


def test_a_pod_through_its_own_service_is_judged_by_the_policies(
    lab: ProbeLab, samples: dict[str, Sample]
) -> None:
    """Hairpin: a pod reaching itself at its own IP never leaves its network namespace (always open, as
    for any pod), but through its Service the DNAT sends the packet out over the bridge and back, and the
    pod's own policies judge it: the backend's egress does not allow the backend, so it is refused. No
    component calls itself; the analyzer cannot see this (it never asks a pod about itself)."""
    full = samples["full"]
    stage(lab, full)
    services = [o for o in full.objects if o["kind"] == "Service" and o["spec"].get("clusterIP") != "None"]
    lab.apply(services)
    [backend] = [t for t in service_targets(lab, services, full) if t.name == "shop-backend"]
    pairs = [
        ("backend", backend.ip, backend.port, "TCP"),
        ("backend", lab.ips["backend"], backend.target, "TCP"),
    ]
    seen = eventually(
        lambda: lab.probe_pairs(pairs),
        until=lambda v: v == ["refused", "open"],
        timeout=SETTLE,
        what="hairpin",
    )
    assert seen == ["refused", "open"]


@dataclass(frozen=True)
class ServiceTarget:
    name: str
    ip: str
    port: int
    pod: str
    target: int


def service_targets(lab: ProbeLab, services: list[JSON], sample: Sample) -> list[ServiceTarget]:
    """(ClusterIP, port, the pod endpoint behind it, the pod's port) for every port of every Service."""
    declared = declared_ports(sample.objects)
    by_component = {
        dict(e.labels)["app.kubernetes.io/component"]: e.name for e in sample.endpoints if e.in_stack
    }
    out = []
    for service in services:
        name = service["metadata"]["name"]
        raw = lab.cluster.kubectl("-n", lab.namespace, "get", "service", name, "-o", "json").stdout
        ip = json.loads(raw)["spec"]["clusterIP"]
        component = service["spec"]["selector"]["app.kubernetes.io/component"]
        for port in service["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            if isinstance(target, str):
                target = next(p["containerPort"] for p in declared[component] if p.get("name") == target)
            out.append(ServiceTarget(name, ip, port["port"], by_component[component], target))
    return out


@dataclass
class Watch:
    """Connections polled while the policies are applied, every round of verdicts kept with its time."""

    lab: ProbeLab
    pairs: list[tuple[str, str, int, str]]
    seen: list[tuple[float, list[str]]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        while not self.stop.is_set():
            self.seen.append((time.monotonic(), self.lab.probe_pairs(self.pairs)))

    def refused(self, index: int) -> list[float]:
        """When the pair at `index` was refused."""
        return [t for t, verdicts in self.seen if verdicts[index] == "refused"]

    def column(self, index: int) -> list[str]:
        return [verdicts[index] for _, verdicts in self.seen]

    def runs(self, index: int, since: float) -> list[str]:
        """The pair's verdicts as runs, each with when it began: `open@-0.41s x12`."""
        out: list[str] = []
        last = None
        for t, verdicts in self.seen:
            if verdicts[index] != last:
                last = verdicts[index]
                out.append(f"{last}@{t - since:+.2f}s")
        return out


ALLOWED = [("backend", "Postgres", 5432), ("backend", "Redis", 6379), ("frontend", "backend", 8000)]
DENIED = [
    ("a neighbour pod", "Postgres", 5432),
    ("frontend", "Postgres", 5432),
    ("the ALB", "Postgres", 5432),
]


def test_policies_deleted_and_created_again_after_the_pods_in_the_operators_order(
    lab: ProbeLab, samples: dict[str, Sample]
) -> None:
    """The stack's policies deleted: every connection opens. Created again one object at a time in the
    order the operator applies them (`desired_objects`), while the pods keep running: the connections the
    table allows are never refused on the way (no window where the backend loses Postgres; with the
    default deny first, as the operator applied it before, the backend was refused by Postgres for 0.6 s
    and by Redis for 0.8 s, the frontend by the backend for 0.3 s), a denied one,
    once refused, never opens again, and at the end the matrix equals the table again, for the same
    pods."""
    full = samples["full"]
    stage(lab, full)
    ips = dict(lab.ips)
    pairs = [(s, ips[d], p, "TCP") for s, d, p in ALLOWED + DENIED]
    lab.install([])
    eventually(
        lambda: lab.probe_pairs(pairs), until=lambda v: set(v) == {"open"}, timeout=SETTLE, what="all open"
    )
    watch = Watch(lab, pairs)
    poller = threading.Thread(target=watch.run, daemon=True)
    poller.start()
    started = time.monotonic()
    marks: list[str] = []
    try:
        for policy in full.policies:
            lab.apply([policy])
            marks.append(f"{policy['metadata']['name']}@{time.monotonic() - started:+.2f}s")
        applied = time.monotonic() - started
        stage(lab, full)
    finally:
        watch.stop.set()
        poller.join(timeout=60)
    windows = {ALLOWED[i]: watch.refused(i) for i in range(len(ALLOWED))}
    spans = {
        k: f"{len(v)} refused over {v[-1] - v[0]:.2f}s" if v else "never refused" for k, v in windows.items()
    }
    print(
        f"[figures] policies applied one by one in {applied:.1f}s; {len(watch.seen)} polls; allowed: {spans}"
    )
    assert not any(windows.values()), f"allowed connections refused during the apply: {spans}"
    denied = {pair: watch.runs(i, started) for i, pair in enumerate(DENIED, start=len(ALLOWED))}
    print(f"[figures] denied connections while the policies were applied ({marks}): {denied}")
    assert all(runs[-1].startswith("refused") and len(runs) == 2 for runs in denied.values()), denied
    assert lab.current_ips() == ips  # the same pods throughout


def test_a_resync_elsewhere_changes_no_verdict(lab: ProbeLab, samples: dict[str, Sample]) -> None:
    """With the table in place, kube-router re-programs the node for policies in another namespace (each
    change is a full sync of every pod's chains, under new chain names), polled throughout: no verdict of
    the stack changes, allowed or denied."""
    full = samples["full"]
    stage(lab, full)
    pairs = [(s, lab.ips[d], p, "TCP") for s, d, p in ALLOWED + DENIED]
    watch = Watch(lab, pairs)
    poller = threading.Thread(target=watch.run, daemon=True)
    poller.start()
    started = time.monotonic()
    other = lab.namespaces["team-b"]
    try:
        for i in range(4):
            policy = {
                "apiVersion": "networking.k8s.io/v1",
                "kind": "NetworkPolicy",
                "metadata": {"name": f"unrelated-{i}", "namespace": other},
                "spec": {"podSelector": {"matchLabels": {"nothing": str(i)}}, "policyTypes": ["Ingress"]},
            }
            lab.cluster.apply(policy)
        stage(lab, full)
    finally:
        watch.stop.set()
        poller.join(timeout=60)
    runs = {pair: watch.runs(i, started) for i, pair in enumerate(ALLOWED + DENIED)}
    print(f"[figures] resync elsewhere: {len(watch.seen)} polls; {runs}")
    assert all(set(watch.column(i)) == {"open"} for i in range(len(ALLOWED))), runs
    assert all(set(watch.column(i)) == {"refused"} for i in range(len(ALLOWED), len(pairs))), runs


MUTATIONS = (
    ("shop-postgres ingress[0] peer 0: empty podSelector", "Postgres open to the whole namespace"),
    ("shop-backend egress[1]: any address", "the backend's database rule to any address"),
    ("shop-frontend ingress[0]: allow every port", "the frontend's port restriction removed"),
)


@pytest.mark.parametrize(
    ("what", "why"), MUTATIONS, ids=["postgres-from-namespace", "backend-db-anywhere", "frontend-any-port"]
)
def test_a_widened_rule_opens_what_the_analyzer_says(
    lab: ProbeLab, samples: dict[str, Sample], what: str, why: str, tmp_path: Path
) -> None:
    """One rendered rule widened (as the analyzer test does, tests/support/policy_mutations.py): the probe
    matrix leaves the table exactly where cyclonus says the widened set allows more."""
    full = samples["full"]
    stage(lab, full)
    [mutated] = [policies for w, policies in widenings(full.policies) if w == what]
    [verdicts] = analyze([mutated], full.endpoints, full.ports, tmp_path)
    names = {e.name for e in lab.among(full)}
    expected = frozenset(c for c in verdicts.connections if c[0] in names and c[1] in names)
    table = full.among(names)
    assert expected > table, f"{why}: the analyzer sees no change"
    lab.install(mutated)
    try:
        settle(lab, full, expected, f"{why}: the widened matrix")
    finally:
        lab.install(full.policies)
    more = describe(expected - table)
    print(f"[figures] {why}: {len(more)} more connections open, e.g. {more[:3]}")

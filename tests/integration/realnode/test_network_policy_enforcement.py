"""NetworkPolicies enforced on the real node (kube-router's firewall, kubelocal.realnode.firewall), seen
through real TCP connections between real pods: under default deny with one allow rule, the allowed
connection opens and the others fail, where the same connections all opened before the policies; and the
kubelet's probes still reach the pod under default deny.

Three pods of the lab's Python image, running tests/support/probe_agent.py, in a namespace under PodSecurity
`restricted`: `server` listens on two ports, `client` is allowed to reach one of them, `stranger` nothing.
Every verdict is one connection attempt with a timeout (`probe_agent.verdict`).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support import probe_agent
from tests.support.hardening_policy import RESTRICTED_CONTAINER

from kubelocal.binaries import cyclonus_verdicts
from kubelocal.target import REAL_NODE_PLACEMENT, KubeTarget
from kubelocal.wait import eventually
from labimages import reference_of
from localdemo.lab_stack import namespace_object

ALLOWED_PORT = 8080
DENIED_PORT = 9090
AGENT = Path(probe_agent.__file__).read_text()
ROLE = "webstack.dev/probe-role"
SOURCES = ("client", "stranger")
# Under the policies: the client may open the allowed port of the server, and nothing else opens.
EXPECTED = {
    ("client", ALLOWED_PORT): "open",
    ("client", DENIED_PORT): "denied",
    ("stranger", ALLOWED_PORT): "denied",
    ("stranger", DENIED_PORT): "denied",
}
JSON = dict[str, Any]
Matrix = dict[tuple[str, int], str]


def _pod(name: str, *, serve: tuple[int, ...]) -> JSON:
    """A probe agent pod on the real node; a server gets the kubelet's TCP probes: readiness on the allowed
    port, liveness on the denied one (both must keep passing under default deny)."""
    container: JSON = {
        "name": "agent",
        "image": reference_of("webstack.lab/python"),
        "imagePullPolicy": "Never",
        "command": ["python3", "-u", "-c", AGENT, "serve", *map(str, serve)],
        "securityContext": RESTRICTED_CONTAINER,
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    }
    if serve:
        container["ports"] = [{"containerPort": p, "protocol": "TCP"} for p in serve]
        container["readinessProbe"] = {"tcpSocket": {"port": ALLOWED_PORT}, "periodSeconds": 1}
        container["livenessProbe"] = {"tcpSocket": {"port": DENIED_PORT}, "periodSeconds": 1}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {ROLE: name}},
        "spec": {
            **REAL_NODE_PLACEMENT,
            "containers": [container],
            "automountServiceAccountToken": False,
            "terminationGracePeriodSeconds": 0,
        },
    }


def policies() -> list[JSON]:
    """Default deny, both directions, for every pod of the namespace; then `client` may open the allowed
    port of `server`: its egress there, and the server's ingress from it."""
    allow_peer = {"podSelector": {"matchLabels": {ROLE: "client"}}}
    port = [{"protocol": "TCP", "port": ALLOWED_PORT}]

    def policy(name: str, spec: JSON) -> JSON:
        return {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": name},
            "spec": spec,
        }

    return [
        policy("default-deny", {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}),
        policy(
            "server-from-client",
            {
                "podSelector": {"matchLabels": {ROLE: "server"}},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [allow_peer], "ports": port}],
            },
        ),
        policy(
            "client-to-server",
            {
                "podSelector": {"matchLabels": {ROLE: "client"}},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"podSelector": {"matchLabels": {ROLE: "server"}}}], "ports": port}],
            },
        ),
    ]


@dataclass
class Probes:
    cluster: KubeTarget
    namespace: str

    def pod(self, name: str) -> JSON:
        out = self.cluster.kubectl("-n", self.namespace, "get", "pod", name, "-o", "json").stdout
        result: JSON = json.loads(out)
        return result

    def matrix(self, sources: tuple[str, ...], server_ip: str) -> Matrix:
        """Every source to both server ports: one `kubectl exec` per source, one attempt per port."""
        found: Matrix = {}
        for source in sources:
            targets = [f"{server_ip}:{p}" for p in (ALLOWED_PORT, DENIED_PORT)]
            out = self.cluster.kubectl(
                "-n", self.namespace, "exec", source, "--", "python3", "-c", AGENT, "connect", *targets
            ).stdout
            for target, verdict in json.loads(out).items():
                found[(source, int(target.rsplit(":", 1)[1]))] = verdict
        return found

    def node_accepts(self, pod_ips: set[str]) -> Counter[tuple[int, str]]:
        """Connections the server accepted from anything but a pod (the kubelet's probes), by port and
        source address."""
        log = self.cluster.kubectl("-n", self.namespace, "logs", "server").stdout
        found: Counter[tuple[int, str]] = Counter()
        for line in log.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "accepted" and parts[2] not in pod_ips:
                found[(int(parts[1]), parts[2])] += 1
        return found


@dataclass
class Enforced:
    probes: Probes
    before: Matrix
    after: Matrix
    pod_ips: dict[str, str]
    namespace: str


def outcomes(matrix: Matrix) -> dict[tuple[str, int], str]:
    """`open`, or `denied` for an attempt that did not connect: a reject (`refused`) or a drop
    (`timeout`), as enforcers differ (kube-router rejects, EKS's agent drops)."""
    return {k: "open" if v == "open" else "denied" for k, v in matrix.items()}


def _ready(pod: JSON) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


@pytest.fixture(scope="module")
def enforced(cluster: KubeTarget, real_node: str) -> Iterator[Enforced]:
    """The pods Ready, the matrix without policies, then the policies and the matrix once they hold."""
    namespace = f"netpol-{uuid.uuid4().hex[:6]}"
    cluster.apply(namespace_object(namespace))
    probes = Probes(cluster, namespace)
    try:
        for name, serve in (("server", (ALLOWED_PORT, DENIED_PORT)), ("client", ()), ("stranger", ())):
            cluster.apply(_pod(name, serve=serve), "-n", namespace)
        pods = {
            name: eventually(
                lambda name=name: probes.pod(name),  # type: ignore[misc]
                until=_ready,
                timeout=120,
                interval=1,
                what=f"pod {name} Ready",
            )
            for name in ("server", "client", "stranger")
        }
        assert {p["spec"]["nodeName"] for p in pods.values()} == {real_node}
        ips = {name: p["status"]["podIP"] for name, p in pods.items()}
        before = probes.matrix(SOURCES, ips["server"])
        for doc in policies():
            cluster.apply(doc, "-n", namespace)
        after = eventually(
            lambda: probes.matrix(SOURCES, ips["server"]),
            until=lambda m: outcomes(m) == EXPECTED,
            timeout=90,
            interval=1,
            what="the probe matrix under the policies",
        )
        yield Enforced(probes, before, after, ips, namespace)
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


def test_without_policies_every_connection_opens(enforced: Enforced) -> None:
    """The contrast that makes a refusal a policy's verdict: the same listeners, the same sources."""
    assert set(enforced.before.values()) == {"open"}, enforced.before
    assert len(enforced.before) == 4


def test_default_deny_refuses_all_but_the_allowed_connection(enforced: Enforced, cluster: KubeTarget) -> None:
    """What no policy allows fails: the client on the other port, the stranger on either; the client's
    allowed connection opens."""
    assert enforced.after[("client", ALLOWED_PORT)] == "open"
    denied = {k: v for k, v in enforced.after.items() if k != ("client", ALLOWED_PORT)}
    assert set(denied.values()) <= {"refused", "timeout"}, enforced.after
    if cluster.local is not None:
        # kube-router's REJECT (an ICMP port unreachable), not a drop: the lab's enforcer.
        assert set(denied.values()) == {"refused"}, enforced.after


def _per_port(accepts: Counter[tuple[int, str]]) -> dict[int, int]:
    return {
        port: sum(n for (p, _), n in accepts.items() if p == port) for port in (ALLOWED_PORT, DENIED_PORT)
    }


def test_kubelet_probes_still_pass_under_default_deny(enforced: Enforced) -> None:
    """Readiness (allowed port) and liveness (a port no policy opens) connect from the node after the
    policies hold, and the server stays Ready without a restart: the node's own traffic is exempt."""
    probes, pods = enforced.probes, set(enforced.pod_ips.values())
    start = _per_port(probes.node_accepts(pods))
    eventually(
        lambda: _per_port(probes.node_accepts(pods)),
        until=lambda now: all(now[p] >= start[p] + 3 for p in start),
        timeout=60,
        interval=1,
        what="three more kubelet probe connections on each port",
    )
    server = probes.pod("server")
    assert _ready(server), server["status"]
    assert server["status"]["containerStatuses"][0]["restartCount"] == 0, server["status"]


def _peer(ip: str, namespace: str | None = None, role: str | None = None) -> JSON:
    """A cyclonus TrafficPeer: a pod of the probe namespace, or a bare address."""
    if namespace is None:
        return {"IP": ip}
    namespace_labels = {"kubernetes.io/metadata.name": namespace}
    internal = {"PodLabels": {ROLE: role}, "NamespaceLabels": namespace_labels, "Namespace": namespace}
    return {"IP": ip, "Internal": internal}


def analyzer_outcomes(sources: dict[str, JSON], server: JSON, namespace: str, workdir: Path) -> Matrix:
    """What cyclonus's engine (the connectivity test's analyzer, tests/integration/operator) says of the
    same connections under the same policies."""
    asked = [(name, port) for name in sources for port in (ALLOWED_PORT, DENIED_PORT)]
    traffic = [
        {
            "Source": sources[n],
            "Destination": server,
            "ResolvedPort": p,
            "ResolvedPortName": "",
            "Protocol": "TCP",
        }
        for n, p in asked
    ]
    folder = workdir / "policies"
    folder.mkdir()
    for doc in policies():
        doc["metadata"]["namespace"] = namespace
        (folder / f"{doc['metadata']['name']}.json").write_text(json.dumps(doc))
    done = subprocess.run(
        [str(cyclonus_verdicts()), "--policy-path", str(folder)],
        input=json.dumps(traffic),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [result] = json.loads(done.stdout)["results"]
    return {
        key: "open" if v["allowed"] else "denied" for key, v in zip(asked, result["verdicts"], strict=True)
    }


def test_the_analyzer_agrees_between_pods_but_not_for_the_node(enforced: Enforced, tmp_path: Path) -> None:
    """Between pods the probes equal the analyzer's verdicts. The node is where they part: the analyzer
    takes the kubelet's address for any other peer, denied by default deny, while kube-router lets every
    node-local source through (its probes connect on the port no policy opens)."""
    probes, ips, namespace = enforced.probes, enforced.pod_ips, enforced.namespace
    accepts = eventually(
        lambda: probes.node_accepts(set(ips.values())),
        until=lambda found: any(port == DENIED_PORT for port, _ in found),
        timeout=60,
        interval=1,
        what="a kubelet probe connection on the denied port",
    )
    node_ip = next(peer for port, peer in accepts if port == DENIED_PORT)
    sources = {name: _peer(ips[name], namespace, name) for name in SOURCES}
    sources["node"] = _peer(node_ip)
    verdicts = analyzer_outcomes(sources, _peer(ips["server"], namespace, "server"), namespace, tmp_path)
    between_pods = {k: v for k, v in verdicts.items() if k[0] != "node"}
    assert between_pods == outcomes(enforced.after) == EXPECTED
    assert verdicts[("node", DENIED_PORT)] == "denied"  # and yet the kubelet's connections were accepted

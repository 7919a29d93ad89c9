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
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support import probe_agent

from kubelocal.target import REAL_NODE_PLACEMENT, KubeTarget
from kubelocal.wait import eventually
from labimages import reference_of
from localdemo.lab_stack import namespace_object

ALLOWED_PORT = 8080
DENIED_PORT = 9090
AGENT = Path(probe_agent.__file__).read_text()
ROLE = "webstack.dev/probe-role"
JSON = dict[str, Any]
Matrix = dict[tuple[str, int], str]
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
    "readOnlyRootFilesystem": True,
}


def _pod(name: str, *, serve: tuple[int, ...]) -> JSON:
    """A probe agent pod on the real node; a server gets the kubelet's TCP probes: readiness on the allowed
    port, liveness on the denied one (both must keep passing under default deny)."""
    container: JSON = {
        "name": "agent",
        "image": reference_of("webstack.lab/python"),
        "imagePullPolicy": "Never",
        "command": ["python3", "-u", "-c", AGENT, "serve", *map(str, serve)],
        "securityContext": RESTRICTED,
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

    def kubelet_accepts(self, exclude: set[str]) -> dict[int, int]:
        """Connections the server accepted from the node (any peer but the probing pods), per port."""
        log = self.cluster.kubectl("-n", self.namespace, "logs", "server").stdout
        counts = {ALLOWED_PORT: 0, DENIED_PORT: 0}
        for line in log.splitlines():
            parts = line.split()
            if len(parts) == 3 and parts[0] == "accepted" and parts[2] not in exclude:
                counts[int(parts[1])] += 1
        return counts


@dataclass
class Enforced:
    probes: Probes
    before: Matrix
    after: Matrix
    pod_ips: dict[str, str]


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
        sources = ("client", "stranger")
        before = probes.matrix(sources, ips["server"])
        for doc in policies():
            cluster.apply(doc, "-n", namespace)
        expected = {
            ("client", ALLOWED_PORT): "open",
            ("client", DENIED_PORT): "denied",
            ("stranger", ALLOWED_PORT): "denied",
            ("stranger", DENIED_PORT): "denied",
        }
        after = eventually(
            lambda: probes.matrix(sources, ips["server"]),
            until=lambda m: outcomes(m) == expected,
            timeout=90,
            interval=1,
            what="the probe matrix under the policies",
        )
        yield Enforced(probes, before, after, ips)
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


def test_kubelet_probes_still_pass_under_default_deny(enforced: Enforced) -> None:
    """Readiness (allowed port) and liveness (a port no policy opens) connect from the node after the
    policies hold, and the server stays Ready without a restart: the node's own traffic is exempt."""
    probes = enforced.probes
    pods = {enforced.pod_ips["client"], enforced.pod_ips["stranger"]}
    start = probes.kubelet_accepts(pods)
    eventually(
        lambda: probes.kubelet_accepts(pods),
        until=lambda now: all(now[p] >= start[p] + 3 for p in start),
        timeout=60,
        interval=1,
        what="three more kubelet probe connections on each port",
    )
    server = probes.pod("server")
    assert _ready(server), server["status"]
    assert server["status"]["containerStatuses"][0]["restartCount"] == 0, server["status"]

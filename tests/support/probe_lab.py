"""The connectivity model (tests/support/connectivity_model.py) put on the real node, no I/O: a probe-agent
pod for every pod endpoint (a stack pod carries its rendered pod template's labels and declared ports; a
stand-in its own labels, in its own namespace), the lab's outside world for every address endpoint (a
network namespace on the node: tests/support/probe_world.py), and each connection to ask turned into one
probe of the agent at its source, so that a source's probes go in one batch.

The stack's workloads do not run: their pods' labels are all the NetworkPolicies see, so an agent that
carries them and listens on every port of the table (TCP and UDP) is, for the policies, the workload.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.support.connectivity import Port
from tests.support.connectivity_model import NAMESPACE, WORKLOAD_KINDS, Connection, Endpoint
from tests.support.hardening_policy import RESTRICTED_CONTAINER

from kubelocal.target import REAL_NODE_PLACEMENT

JSON = dict[str, Any]
# The agents' batch port: no port of the table, reached only from the node (kube-router lets the node's
# own traffic through, docs/architecture.md "Network connectivity").
CONTROL_PORT = 7070
# The model's namespaces that the test replaces by fresh ones; kube-system and monitoring are named by the
# policies (the DNS and monitoring peers), so their stand-ins go there.
RENAMED = (NAMESPACE, "team-b")
# Ports below 1024 (22, 53, 80, 443) without a capability: a namespaced sysctl every PodSecurity level
# allows (Kubernetes' safe set).
LOW_PORTS = {"name": "net.ipv4.ip_unprivileged_port_start", "value": "0"}


@dataclass(frozen=True)
class Agentry:
    """What every agent pod runs: the agent's source, in the lab's Python image."""

    source: str
    image: str


def listen_args(ports: Iterable[Port]) -> list[str]:
    """The agent's `serve` arguments for every port, both protocols as the table lists them."""
    return [f"{p.protocol.lower()}/{p.number}" for p in ports]


def pod_name(endpoint: Endpoint) -> str:
    """A DNS-1123 name, stable for the same endpoint: a readable stem and a hash of the whole name."""
    digest = hashlib.sha256(endpoint.name.encode()).hexdigest()[:6]
    stem = "".join(c if c.isalnum() else "-" for c in endpoint.name.lower()).strip("-")[:40].strip("-")
    return f"{stem}-{digest}"


def agent_pod(
    endpoint: Endpoint, namespace: str, agent: Agentry, ports: Iterable[Port], declared: list[JSON]
) -> JSON:
    """The probe agent as `endpoint`: exactly its labels, `declared` as the container's ports (what named
    ports and Services resolve against), listening on every port."""
    container: JSON = {
        "name": "agent",
        "image": agent.image,
        "imagePullPolicy": "Never",
        "command": ["python3", "-u", "-c", agent.source, "serve", "--quiet", "--control", str(CONTROL_PORT)],
        "args": listen_args(ports),
        "securityContext": RESTRICTED_CONTAINER,
        "resources": {"requests": {"cpu": "5m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
    }
    if declared:
        container["ports"] = declared
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": pod_name(endpoint), "namespace": namespace, "labels": dict(endpoint.labels)},
        "spec": {
            **REAL_NODE_PLACEMENT,
            "containers": [container],
            "securityContext": {"sysctls": [LOW_PORTS]},
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "terminationGracePeriodSeconds": 0,
        },
    }


def declared_ports(objects: list[JSON]) -> dict[str, list[JSON]]:
    """The container ports each rendered workload's pod template declares, by component label."""
    out: dict[str, list[JSON]] = {}
    for obj in objects:
        if obj["kind"] in WORKLOAD_KINDS:
            template = obj["spec"]["template"]
            component = template["metadata"]["labels"]["app.kubernetes.io/component"]
            out[component] = [p for c in template["spec"]["containers"] for p in c.get("ports", [])]
    return out


def pods_for(
    endpoints: list[Endpoint],
    objects: list[JSON],
    namespaces: dict[str, str],
    agent: Agentry,
    ports: list[Port],
) -> list[JSON]:
    """An agent pod per pod endpoint, in the namespace the model's namespace maps to."""
    declared = declared_ports(objects)
    out = []
    for e in endpoints:
        if e.namespace is None:
            continue
        component = dict(e.labels).get("app.kubernetes.io/component", "")
        own = declared.get(component, []) if e.in_stack else []
        out.append(agent_pod(e, namespaces.get(e.namespace, e.namespace), agent, ports, own))
    return out


@dataclass(frozen=True)
class Agent:
    """Where a batch goes: a pod's agent (by pod IP) or the outside world's (source set per probe)."""

    host: str
    source: str | None


def batches(
    asked: Iterable[tuple[Endpoint, Endpoint, Port]], ips: dict[str, str], world: str
) -> dict[Agent, list[tuple[Connection, list[Any]]]]:
    """Each connection as a probe of the agent at its source: a pod sends from its own address, the world
    from the stand-in's address. `ips` maps each pod endpoint's name to its pod IP; addresses are their
    own."""
    out: dict[Agent, list[tuple[Connection, list[Any]]]] = defaultdict(list)
    for src, dst, port in asked:
        agent = Agent(ips[src.name], None) if src.is_pod else Agent(world, src.ip)
        target = ips[dst.name] if dst.is_pod else dst.ip
        out[agent].append(((src.name, dst.name, port), [agent.source, target, port.number, port.protocol]))
    return dict(out)


def opened(verdicts: dict[Connection, str]) -> frozenset[Connection]:
    return frozenset(c for c, v in verdicts.items() if v == "open")


def unexpected(verdicts: dict[Connection, str]) -> dict[Connection, str]:
    """Verdicts that are neither a connection nor kube-router's refusal: a timeout (a drop) or an error
    would mean something besides the policies decided."""
    return {c: v for c, v in verdicts.items() if v not in ("open", "refused")}


def describe(connections: Iterable[Connection]) -> list[str]:
    return sorted(f"{s} -> {d} {p}" for s, d, p in connections)


def request(probes: list[list[Any]], timeout: float) -> JSON:
    return {"probes": probes, "timeout": timeout, "workers": 16}

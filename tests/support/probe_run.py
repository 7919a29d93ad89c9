"""The probe lab running on the real node: its agent pods and outside world started once, a sample's
NetworkPolicies swapped in, and the matrix observed: every connection of the model asked of the agent at
its source, all sources at once, each source's probes in one batch (tests/support/probe_lab.py says how
the model maps onto pods)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from tests.support import probe_agent
from tests.support.connectivity import Port
from tests.support.connectivity_model import Connection, Endpoint, Sample, connections_to_ask
from tests.support.probe_lab import (
    CONTROL_PORT,
    RENAMED,
    Agent,
    Agentry,
    batches,
    pod_name,
    pods_for,
    request,
)
from tests.support.probe_world import World

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from labimages import reference_of
from localdemo.lab_stack import namespace_object

JSON = dict[str, Any]
AGENT_FILE = Path(probe_agent.__file__)
# A refusal comes back at once (kube-router rejects); only a drop would wait this long.
PROBE_TIMEOUT = 1.5
PARALLEL_SOURCES = 6


class ProbeLab:
    """Agent pods for every pod endpoint of the model, the world for every address; one stack's policies
    at a time in the stack's namespace."""

    def __init__(self, cluster: KubeTarget, endpoints: list[Endpoint], ports: list[Port], workdir: Path):
        self.cluster, self.ports = cluster, ports
        # IPv6 stand-ins stay out: the real node runs IPv4 only.
        self.endpoints = [e for e in endpoints if not e.ipv6]
        suffix = uuid.uuid4().hex[:5]
        self.namespaces = {name: f"probe-{name}-{suffix}" for name in RENAMED}
        addresses = [e.ip for e in self.endpoints if not e.is_pod]
        self.world = World(
            addresses, AGENT_FILE, [f"{p.protocol.lower()}/{p.number}" for p in ports], workdir / "world.log"
        )
        self.ips: dict[str, str] = {}
        self.pods: list[JSON] = []

    @property
    def namespace(self) -> str:
        """The stack's namespace (the model's team-a)."""
        return next(iter(self.namespaces.values()))

    def start(self, objects: list[JSON]) -> None:
        """Every agent pod Ready with its IP, and the world answering."""
        for namespace in self.namespaces.values():
            self.cluster.apply(namespace_object(namespace))
        for namespace in ("monitoring",):
            self.cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        agent = Agentry(AGENT_FILE.read_text(), reference_of("webstack.lab/python"))
        self.pods = pods_for(self.endpoints, objects, self.namespaces, agent, self.ports)
        self.cluster.apply({"apiVersion": "v1", "kind": "List", "items": self.pods})
        self.world.start()
        by_pod = {(p["metadata"]["namespace"], p["metadata"]["name"]): e for p, e in self._pairs()}
        self.ips = eventually(
            lambda: self._ready_ips(by_pod),
            until=lambda ips: len(ips) == len(by_pod),
            timeout=240,
            interval=1,
            what=f"{len(by_pod)} probe agent pods Ready",
        )

    def current_ips(self) -> dict[str, str]:
        """Every agent pod's IP as the API says now (a replaced pod would have another)."""
        by_pod = {(p["metadata"]["namespace"], p["metadata"]["name"]): e for p, e in self._pairs()}
        return self._ready_ips(by_pod)

    def _pairs(self) -> Iterable[tuple[JSON, Endpoint]]:
        named = {pod_name(e): e for e in self.endpoints if e.is_pod}
        return ((p, named[p["metadata"]["name"]]) for p in self.pods)

    def _ready_ips(self, by_pod: dict[tuple[str, str], Endpoint]) -> dict[str, str]:
        ips = {}
        for namespace in {ns for ns, _ in by_pod}:
            out = self.cluster.kubectl("-n", namespace, "get", "pods", "-o", "json").stdout
            for pod in json.loads(out)["items"]:
                endpoint = by_pod.get((namespace, pod["metadata"]["name"]))
                conditions = pod.get("status", {}).get("conditions") or []
                ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
                if endpoint is not None and ready and pod["status"].get("podIP"):
                    ips[endpoint.name] = pod["status"]["podIP"]
        return ips

    def stop(self) -> None:
        try:
            self.world.stop()
        finally:
            for namespace in self.namespaces.values():
                self.cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)
            for pod in self.pods:
                if pod["metadata"]["namespace"] not in self.namespaces.values():
                    meta = pod["metadata"]
                    self.cluster.kubectl(
                        "-n", meta["namespace"], "delete", "pod", meta["name"], "--wait=false", check=False
                    )

    # -- policies ------------------------------------------------------------------------------------------

    def apply(self, docs: list[JSON]) -> None:
        """Each object in its own call, in the order given (the operator applies one object at a time)."""
        for doc in docs:
            self.cluster.apply({**doc, "metadata": {**doc["metadata"], "namespace": self.namespace}})

    def delete_policies_except(self, keep: Iterable[str] = ()) -> None:
        kept = set(keep)
        out = self.cluster.kubectl("-n", self.namespace, "get", "networkpolicy", "-o", "name").stdout
        gone = sorted(n for n in out.split() if n.split("/", 1)[1] not in kept)
        if gone:
            self.cluster.kubectl("-n", self.namespace, "delete", *gone, "--wait=true")

    def install(self, policies: list[JSON]) -> None:
        """Exactly these policies in the stack's namespace."""
        self.delete_policies_except(p["metadata"]["name"] for p in policies)
        self.apply(policies)

    # -- probes --------------------------------------------------------------------------------------------

    def among(self, sample: Sample) -> list[Endpoint]:
        """The sample's endpoints the lab stands up (its stack pods and every IPv4 stand-in)."""
        kept = {e.name for e in self.endpoints}
        return [e for e in sample.endpoints if e.name in kept]

    def observe(self, sample: Sample) -> dict[Connection, str]:
        """The verdict of every connection of the sample's model: one real attempt each."""
        asked = connections_to_ask(self.among(sample), sample.ports)
        return self.ask(batches(asked, self.ips, self.world.control))

    def ask(self, grouped: dict[Agent, list[tuple[Connection, list[Any]]]]) -> dict[Connection, str]:
        def one(agent: Agent) -> list[tuple[Connection, str]]:
            keys = [key for key, _ in grouped[agent]]
            probes = [probe for _, probe in grouped[agent]]
            verdicts = probe_agent.ask(agent.host, CONTROL_PORT, request(probes, PROBE_TIMEOUT))
            return list(zip(keys, verdicts, strict=True))

        with ThreadPoolExecutor(max_workers=PARALLEL_SOURCES) as pool:
            return {key: verdict for found in pool.map(one, grouped) for key, verdict in found}

    def probe_pairs(self, pairs: list[tuple[str, str, int, str]]) -> list[str]:
        """Ad-hoc probes: (source endpoint, target address, port, protocol), verdicts in order."""
        by_name = {e.name: e for e in self.endpoints}
        grouped: dict[Agent, list[tuple[Connection, list[Any]]]] = {}
        for index, (src, target, port, protocol) in enumerate(pairs):
            e = by_name[src]
            agent = Agent(self.ips[src], None) if e.is_pod else Agent(self.world.control, e.ip)
            key = (str(index), target, Port(protocol.split("/")[0], port))
            grouped.setdefault(agent, []).append((key, [agent.source, target, port, protocol]))
        found = self.ask(grouped)
        return [v for _, v in sorted(found.items(), key=lambda kv: int(kv[0][0]))]

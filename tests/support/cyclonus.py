"""cyclonus's NetworkPolicy engine (tools/go/cyclonus, built by `make cluster-binaries`) asked about many
connections under many sets of policies in one run: the analyzer's verdicts, per direction and per
connection."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.connectivity import Port
from tests.support.connectivity_model import Connection, Endpoint, connections_to_ask

from kubelocal.binaries import cyclonus_verdicts


@dataclass(frozen=True)
class Verdicts:
    egress: frozenset[Connection]
    ingress: frozenset[Connection]
    connections: frozenset[Connection]


def analyze(
    policy_sets: list[list[dict[str, Any]]], endpoints: list[Endpoint], ports: list[Port], workdir: Path
) -> list[Verdicts]:
    """Ask cyclonus, for each set of policies, about every connection with a stack pod on one end."""
    asked = connections_to_ask(endpoints, ports)
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

"""kwok's part of the local cluster: its command line, its stages, the simulated nodes and their StorageClass.

Pure but for `write_stages`, so what the simulated nodes offer (bench/operator.py sizes against their
capacity) and how kwok is told to manage them can be read apart from the process that runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kubelocal.realnode import layout as realnode_layout

# The lower half of the pod range: the real node's pods live in the upper (10.244.250.0/24).
KWOK_POD_CIDR = "10.244.0.1/17"
# kwok stages of our own, beside the cached kustomize set (a Job pod that fails, for the migration tests).
EXTRA_KWOK_STAGES = Path(__file__).with_name("kwok-stages.yaml")
NODE_ANNOTATION = "kwok.x-k8s.io/node"


def kwok_command(binary: Path, kubeconfig: Path, stages: Path, port: int) -> list[str]:
    """kwok managing only the nodes annotated as fake, so a real node beside them stays its kubelet's."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--config={stages}",
        f"--config={EXTRA_KWOK_STAGES}",
        "--manage-all-nodes=false",
        f"--manage-nodes-with-annotation-selector={NODE_ANNOTATION}=fake",
        f"--cidr={KWOK_POD_CIDR}",
        "--node-ip=127.0.0.1",
        # The heartbeat stage renews node status only every ~10 minutes and relies on a Lease for
        # liveness; without this flag there is no Lease and nodes flap NotReady (and pods with them).
        "--node-lease-duration-seconds=40",
        f"--server-address=127.0.0.1:{port}",
    ]


def write_stages(cached_stages: Path, workdir: Path) -> Path:
    """The cached stages, except that kwok leaves PVCs of the real node's storage class alone (the
    local-path provisioner binds those to directories)."""
    text = realnode_layout.kwok_stages_leaving_local_path(cached_stages.read_text())
    path = workdir / "kwok-stages.yaml"
    path.write_text(text)
    return path


def kwok_node(name: str) -> dict[str, Any]:
    """A simulated node, roomy enough that scheduling never waits on capacity; its zone from its name."""
    capacity = {"cpu": "64", "memory": "512Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {NODE_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
                "topology.kubernetes.io/zone": f"local-{name[-1]}",
            },
        },
        "status": {"capacity": capacity, "allocatable": capacity},
    }


def kwok_nodes(count: int) -> dict[str, Any]:
    """`count` simulated nodes as one List, for a single server-side apply."""
    items = [kwok_node(f"kwok-node-{i}") for i in range(count)]
    return {"apiVersion": "v1", "kind": "List", "items": items}


def storage_class() -> dict[str, Any]:
    """The default class: kwok creates a StorageClass in none of its binary modes, and its volume stages
    provision every class."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": "kwok-volume",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kwok.x-k8s.io/volume",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


def nodes_ready(node_list: dict[str, Any], count: int) -> bool:
    """At least `count` nodes, every one of them Ready (a real node among them counts too)."""
    nodes = node_list["items"]
    return len(nodes) >= count and all(_condition(n, "Ready") == "True" for n in nodes)


def _condition(obj: dict[str, Any], kind: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None

"""Every container's log of a namespace, kept for the run's search for leaked passwords (kubelocal.leaks)
before its pods go: the kubelet removes a pod's logs with the pod."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from kubelocal import leaks
from kubelocal.target import KubeTarget


def keep_namespace_logs(cluster: KubeTarget, namespace: str, prefix: str = "realnode") -> list[str]:
    """Each container's log, kept as `<prefix>-<namespace>-<pod>-<container>` (its previous run's with
    `-previous`); returns the names kept."""
    pods: list[dict[str, Any]] = json.loads(
        cluster.kubectl("-n", namespace, "get", "pods", "-o", "json").stdout
    )["items"]
    kept: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        for pod in pods:
            spec = pod["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                name = f"{pod['metadata']['name']}-{container['name']}"
                for previous in (False, True):
                    out = cluster.kubectl(
                        "-n",
                        namespace,
                        "logs",
                        pod["metadata"]["name"],
                        "-c",
                        container["name"],
                        f"--previous={str(previous).lower()}",
                        check=False,
                    ).stdout
                    path = Path(scratch) / f"{name}{'-previous' if previous else ''}.log"
                    path.write_text(out)
                    kept.append(f"{prefix}-{namespace}-{path.stem}")
                    leaks.keep_log(path, kept[-1])
    return kept

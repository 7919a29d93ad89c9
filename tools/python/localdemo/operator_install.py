"""The operator installed in the cluster as a user installs it: `kubectl apply --server-side -k` of an
overlay (the lab's by default: the dev install with the lab's images and placement), then its rollout; and
where its leader serves /metrics.

One addition of the lab's beside the install: `lab-node-dns` in the operator's namespace. The operator
reaches the API by name (`kubernetes.default.svc`), its NetworkPolicy allows DNS to the cluster DNS pods
only, and the real node enforces it while its DNS is a host process (localdemo.lab_stack.node_dns_policy).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kubelocal.audit_log import OPERATOR_NAMESPACE
from kubelocal.target import KubeTarget
from localdemo.lab_stack import LAB_OVERLAY, node_dns_policy

NAMESPACE = OPERATOR_NAMESPACE
NAME = "webstack-operator"
POD_LABEL = "app.kubernetes.io/name=webstack-operator"
POD_SELECTOR = {"matchLabels": {"app.kubernetes.io/name": NAME}}
METRICS_PORT = 8081  # deploy/operator's `metrics` port
INSTALL_MANAGER = "lab-install"


def install(cluster: KubeTarget, kustomization: Path = LAB_OVERLAY, timeout: str = "180s") -> None:
    """Server-side, as the base's header says; taking over fields an earlier install applied."""
    cluster.kubectl(
        "apply",
        "--server-side",
        f"--field-manager={INSTALL_MANAGER}",
        "--force-conflicts",
        "-k",
        str(kustomization),
    )
    cluster.apply(node_dns_policy(NAMESPACE, POD_SELECTOR))
    cluster.wait_established(["webstacks.webstack.dev"])
    cluster.kubectl("-n", NAMESPACE, "rollout", "status", f"deployment/{NAME}", f"--timeout={timeout}")


def leader(cluster: KubeTarget) -> dict[str, Any] | None:
    """The pod whose name begins the Lease's holder identity (`<pod>_<uid>`), or None when nobody leads."""
    lease = cluster.kubectl("-n", NAMESPACE, "get", "lease", NAME, "-o", "json", check=False)
    if lease.returncode != 0:
        return None
    holder = str(json.loads(lease.stdout)["spec"].get("holderIdentity") or "")
    pods = json.loads(cluster.kubectl("-n", NAMESPACE, "get", "pods", "-l", POD_LABEL, "-o", "json").stdout)
    for pod in pods["items"]:
        if holder.startswith(f"{pod['metadata']['name']}_") and pod.get("status", {}).get("podIP"):
            return dict(pod)
    return None


def metrics_url(pod: dict[str, Any]) -> str:
    return f"http://{pod['status']['podIP']}:{METRICS_PORT}/metrics"

"""The operator installed in the cluster as a user installs it (deploy/overlays/lab: the dev overlay with the
lab's images and placement), and the view of it the in-cluster tests read: its pods, its Lease, its logs.

The session's own operator (a host process, `operator` fixture) reconciles every namespace: it is stopped
while the installed one runs, or the two would reconcile the same stacks.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.operator import ROOT, OperatorPod, operator_pods

from kubelocal import leaks
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

LAB_OVERLAY = ROOT / "deploy" / "overlays" / "lab"
NAMESPACE = "webstack-system"
NAME = "webstack-operator"
INSTALL_MANAGER = "lab-install"


@dataclass
class InCluster:
    """The installed operator: a Deployment of two replicas in webstack-system."""

    cluster: KubeTarget
    since: datetime = field(default_factory=lambda: datetime.now(UTC))  # the audit window's start

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.cluster.kubectl("-n", NAMESPACE, *args, input=input, check=check).stdout

    def get(self, *what: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.kubectl("get", *what, "-o", "json"))
        return result

    def install(self, kustomization: Path = LAB_OVERLAY) -> None:
        """Server-side, as the base's header says; taking over fields an earlier install test applied."""
        self.cluster.kubectl(
            "apply",
            "--server-side",
            f"--field-manager={INSTALL_MANAGER}",
            "--force-conflicts",
            "-k",
            str(kustomization),
        )
        self.kubectl("rollout", "status", f"deployment/{NAME}", "--timeout=180s")

    def pods(self) -> list[OperatorPod]:
        return operator_pods(self.cluster)

    def lease(self) -> dict[str, Any]:
        return self.get("lease", NAME)

    def holder(self) -> str:
        return str(self.lease()["spec"].get("holderIdentity") or "")

    def leader(self, timeout: float = 60) -> OperatorPod:
        """The one Ready pod that holds the Lease and says so on /healthz and /metrics."""

        def leading() -> list[OperatorPod]:
            holder = self.holder()
            return [p for p in self.pods() if holder.startswith(f"{p.name}_") and p.leads()]

        [leader] = eventually(
            leading, until=lambda found: len(found) == 1, timeout=timeout, what="one leader"
        )
        return leader

    def keep_logs(self) -> None:
        """Every operator pod's log, for the run's search for leaked passwords, before the pod goes."""
        with tempfile.TemporaryDirectory() as scratch:
            for pod in self.get("pods", "-l", f"app.kubernetes.io/name={NAME}")["items"]:
                name = pod["metadata"]["name"]
                path = Path(scratch) / f"{name}.log"
                path.write_text(self.kubectl("logs", name, "--all-containers", check=False))
                leaks.keep_log(path, f"incluster-{name}")

    def uninstall(self) -> None:
        """The Deployment and its Lease go (an installed operator left running would reconcile every later
        module's stacks); the CRD, RBAC and namespace stay for the install tests, which re-apply them."""
        self.keep_logs()
        self.kubectl("delete", "deployment", NAME, "--ignore-not-found", "--wait=true")
        eventually(
            lambda: self.get("pods", "-l", f"app.kubernetes.io/name={NAME}")["items"],
            until=lambda pods: pods == [],
            timeout=90,
            what="the operator's pods gone",
        )
        self.kubectl("delete", "lease", NAME, "--ignore-not-found")

"""The operator installed in the cluster as a user installs it (deploy/overlays/lab: the dev overlay with the
lab's images and placement), and the view of it the in-cluster tests read: its pods, its Lease, its logs.

The session's own operator (a host process, `operator` fixture) reconciles every namespace: it is stopped
while the installed one runs, or the two would reconcile the same stacks.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.support.operator import OPERATOR_POD_LABEL, OperatorPod, operator_pods

from kubelocal import leaks
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localdemo import operator_install
from localdemo.lab_stack import LAB_OVERLAY
from localdemo.operator_install import NAME, NAMESPACE


class LogFollower:
    """`kubectl logs -f` of every operator pod that appears, each into a file, kept for the run's search for
    leaked passwords once its stream ends: a deleted pod's last lines (a leader stopping, the old pods
    of a roll reconciling to the end) go with the pod, and the kubelet removes its files."""

    def __init__(self, cluster: KubeTarget) -> None:
        self.cluster = cluster
        self._dir = Path(tempfile.mkdtemp(prefix="operator-pod-logs-"))
        self._streams: dict[str, subprocess.Popen[bytes]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="operator-log-follower", daemon=True)

    def start(self) -> LogFollower:
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(1):
            listed = self.cluster.kubectl(
                "-n",
                NAMESPACE,
                "get",
                "pods",
                "-l",
                OPERATOR_POD_LABEL,
                "-o",
                "name",
                check=False,
            )
            for pod in listed.stdout.split():
                name = pod.split("/", 1)[1]
                if name not in self._streams:
                    with (self._dir / f"{name}.log").open("wb") as out:
                        argv = [
                            str(self.cluster.kubectl_path),
                            f"--kubeconfig={self.cluster.kubeconfig_path}",
                        ]
                        argv += ["-n", NAMESPACE, "logs", "-f", pod]
                        self._streams[name] = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)

    def stop(self) -> None:
        """Ends the streams and keeps every file (a stream of a pod already gone has ended by itself)."""
        self._stop.set()
        self._thread.join(timeout=30)
        for name, stream in self._streams.items():
            stream.terminate()
            stream.wait(10)
            leaks.keep_log(self._dir / f"{name}.log", f"incluster-{name}")


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
        operator_install.install(self.cluster, kustomization)

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

    def uninstall(self) -> None:
        """The Deployment and its Lease go (an installed operator left running would reconcile every later
        module's stacks); the CRD, RBAC and namespace stay for the install tests, which re-apply them."""
        self.kubectl("delete", "deployment", NAME, "--ignore-not-found", "--wait=true")
        eventually(
            lambda: self.get("pods", "-l", OPERATOR_POD_LABEL)["items"],
            until=lambda pods: pods == [],
            timeout=90,
            what="the operator's pods gone",
        )
        self.kubectl("delete", "lease", NAME, "--ignore-not-found")

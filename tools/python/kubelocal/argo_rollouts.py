"""Argo Rollouts' controller beside the control plane: where setup built it, and its command line.

Apart from kubelocal.cluster because it is optional third-party software: a session without it still has
a whole control plane, and its Rollouts are only stored, never rolled.
"""

from __future__ import annotations

from pathlib import Path


def find_controller(kubernetes_dir: Path) -> Path | None:
    """The newest rollouts-controller tools/go/build-cluster-binaries.sh cached next to the Kubernetes
    binaries; None when it was not built."""
    found = sorted(kubernetes_dir.parent.glob("argo-rollouts-*/rollouts-controller"))
    return found[-1] if found else None


def controller_command(binary: Path, kubeconfig: Path, healthz_port: int, metrics_port: int) -> list[str]:
    """One replica, so no leader election; quiet, as its info lines would drown the test's own logs."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        "--leader-elect=false",
        f"--healthzPort={healthz_port}",
        f"--metricsPort={metrics_port}",
        "--loglevel=warn",
    ]

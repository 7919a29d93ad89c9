"""kubectl against one kubeconfig, and ClusterError, which a failed kubectl or a failed component raises.

Below kubelocal.cluster so that a client of a running cluster (localservices, kubelocal.target) needs
only the kubeconfig, not the object that started the control plane.
"""

from __future__ import annotations

import subprocess
from pathlib import Path


class ClusterError(RuntimeError):
    """A component failed to start or become ready; the message carries the tail of its log."""


def run_kubectl(
    kubectl: Path, kubeconfig: Path, args: tuple[str, ...], input: str | None, check: bool, timeout: float
) -> subprocess.CompletedProcess[str]:
    """kubectl against one kubeconfig; with `check`, a failure raises with kubectl's own message."""
    result = subprocess.run(
        [str(kubectl), f"--kubeconfig={kubeconfig}", *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise ClusterError(f"kubectl {' '.join(args)} failed ({result.returncode}): {result.stderr.strip()}")
    return result

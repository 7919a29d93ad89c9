"""A Kubernetes API to test against: the local control plane, or any cluster a kubeconfig names.

The suites talk only to this, so the same e2e tests run on kind or EKS (`WEBSTACK_KUBECONFIG=...`).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from kubelocal.binaries import Binaries, BinariesMissing, cache_dir
from kubelocal.cluster import LocalCluster
from kubelocal.kubectl import ClusterError, run_kubectl
from kubelocal.realnode.layout import LABEL, TOLERATION
from kubelocal.wait import eventually

THIRDPARTY_DIR_NAME = "thirdparty-crds"
REAL_NODE_LABEL = LABEL
# What a pod spec needs to land on the real node (it is tainted: nothing else lands there).
REAL_NODE_PLACEMENT = {"nodeSelector": {LABEL: "true"}, "tolerations": [TOLERATION]}
# The optional APIs the operator uses (Argo CD's CRDs are fetched too, for the install tests only).
OPERATOR_CRD_PROJECTS = (
    "argo-rollouts",
    "prometheus-operator",
    "velero",
    "sealed-secrets",
    "external-secrets",
)


def _kubectl_binary() -> Path:
    try:
        return Binaries.locate().kubectl
    except BinariesMissing:
        found = shutil.which("kubectl")
        if not found:
            raise
        return Path(found)


class KubeTarget:
    """What a test needs of a cluster: a kubeconfig, kubectl, ServiceAccount kubeconfigs, CRDs."""

    def __init__(self, kubeconfig_path: Path, local: LocalCluster | None = None) -> None:
        self.kubeconfig_path = kubeconfig_path
        self.local = local
        self.kubectl_path = local.binaries.kubectl if local else _kubectl_binary()
        self._scratch = Path(tempfile.mkdtemp(prefix="webstack-target-"))

    @classmethod
    def from_environment(cls) -> KubeTarget | None:
        """`WEBSTACK_KUBECONFIG`, or `KUBECONFIG` with `WEBSTACK_USE_KUBECONFIG=1`: an existing cluster."""
        path = os.environ.get("WEBSTACK_KUBECONFIG")
        if not path and os.environ.get("WEBSTACK_USE_KUBECONFIG") == "1":
            path = os.environ.get("KUBECONFIG")
        return cls(Path(path)) if path else None

    def close(self) -> None:
        shutil.rmtree(self._scratch, ignore_errors=True)

    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.kubectl_path, self.kubeconfig_path, args, input, check, timeout)

    def apply(self, manifest: object, *extra: str) -> subprocess.CompletedProcess[str]:
        return self.kubectl(
            "apply", "--server-side", "--force-conflicts", *extra, "-f", "-", input=json.dumps(manifest)
        )

    def real_node(self) -> str | None:
        """The name of a node that runs real containers (labelled `webstack.dev/real-node=true`: the
        lab's, or any a kind/EKS user labels so), or None. `REAL_NODE_PLACEMENT` puts a pod there."""
        out = self.kubectl("get", "nodes", "-l", f"{REAL_NODE_LABEL}=true", "-o", "name", check=False).stdout
        names = [line.split("/", 1)[1] for line in out.split() if "/" in line]
        return names[0] if names else None

    def real_node_absence(self) -> str:
        """Why this cluster has no real node, in one line."""
        if self.local is not None and self.local.real_node_reason:
            return self.local.real_node_reason
        return f"no node is labelled {REAL_NODE_LABEL}=true"

    @property
    def audit_log_path(self) -> Path | None:
        """The apiserver's audit log of the operator account's writes (kubelocal.audit_log), or None: only
        the local control plane's apiserver is ours to configure and read."""
        return self.local.audit_log_path if self.local is not None else None

    def mint_kubeconfig(self, namespace: str, service_account: str, duration: str = "24h") -> Path:
        """A kubeconfig for a ServiceAccount from a TokenRequest: RBAC applies for real."""
        token = self.kubectl(
            "create", "token", service_account, "-n", namespace, f"--duration={duration}"
        ).stdout.strip()
        raw = json.loads(self.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
        cluster = raw["clusters"][0]
        user = f"system:serviceaccount:{namespace}:{service_account}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [cluster],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {"name": user, "context": {"cluster": cluster["name"], "user": user, "namespace": namespace}}
            ],
            "current-context": user,
        }
        path = self._scratch / f"{namespace}-{service_account}.kubeconfig"
        path.write_text(json.dumps(config))
        path.chmod(0o600)
        return path

    def bearer_access(self, namespace: str, account: str, workdir: Path) -> tuple[str, Path | None, str]:
        """Server, CA file (None: the system's roots) and a cluster-admin bearer token, whatever kubeconfig
        this cluster came with: for a client that passes tokens but not client certificates (a proxy)."""
        self.kubectl("create", "serviceaccount", account, "-n", namespace, check=False)
        self.kubectl(
            "create",
            "clusterrolebinding",
            account,
            "--clusterrole=cluster-admin",
            f"--serviceaccount={namespace}:{account}",
            check=False,
        )
        minted = json.loads(self.mint_kubeconfig(namespace, account).read_text())
        entry = minted["clusters"][0]["cluster"]
        ca: Path | None = None
        if entry.get("certificate-authority-data"):
            ca = workdir / "upstream-ca.crt"
            ca.write_bytes(base64.b64decode(entry["certificate-authority-data"]))
        elif entry.get("certificate-authority"):
            ca = Path(entry["certificate-authority"])
        return entry["server"], ca, minted["users"][0]["user"]["token"]

    def install_thirdparty_crds(self, *projects: str) -> list[str]:
        """Installs the real third-party CRDs fetched at setup (all, or the named projects); returns names."""
        root = cache_dir() / THIRDPARTY_DIR_NAME
        dirs = sorted(d for d in root.iterdir() if d.is_dir()) if root.is_dir() else []
        if projects:
            dirs = [
                d for d in dirs if d.name.rsplit("-", 1)[0] in projects or d.name.split("-v")[0] in projects
            ]
        if not dirs:
            raise ClusterError(f"no third-party CRDs under {root} (run `make thirdparty-crds`)")
        names: list[str] = []
        for d in dirs:
            out = self.kubectl(
                "apply", "--server-side", "--force-conflicts", "-f", str(d), "-o", "name"
            ).stdout
            names += [line.split("/", 1)[1] for line in out.split() if "/" in line]
        if names:
            self.wait_established(names)
        return names

    def wait_established(self, crds: list[str], timeout: float = 60) -> None:
        """Until every CRD is served. A CRD just created may have no conditions yet, which `kubectl wait`
        reports as an error rather than waiting for, so poll it."""
        eventually(
            lambda: self.kubectl(
                "wait",
                "--for=condition=Established",
                "--timeout=10s",
                *[f"crd/{n}" for n in crds],
                check=False,
            ),
            until=lambda r: r.returncode == 0,
            timeout=timeout,
            what=f"CRDs established: {', '.join(crds)}",
        )

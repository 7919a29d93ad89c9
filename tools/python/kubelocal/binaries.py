"""Where the built control-plane binaries live: a cache outside the work tree, keyed by version."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The Go version pins (tools/go/versions.env) beside this harness in the work tree (tools/python/kubelocal):
# the harness is installed editable, for development only, so the pins are read where they are committed.
GO_TOOLS_DIR = Path(__file__).resolve().parents[2] / "go"


class BinariesMissing(RuntimeError):
    """Raised when the cache lacks a binary: building is `make cluster-binaries`, never a test's job."""


def read_versions(path: Path = GO_TOOLS_DIR / "versions.env") -> dict[str, str]:
    versions: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, value = line.split("=", 1)
            versions[key.strip()] = value.strip()
    return versions


def cache_dir() -> Path:
    return Path(os.environ.get("WEBSTACK_CACHE", Path.home() / ".cache" / "webstack"))


@dataclass(frozen=True)
class Binaries:
    kubernetes_version: str
    etcd_version: str
    kwok_version: str
    kube_apiserver: Path
    kube_controller_manager: Path
    kube_scheduler: Path
    kubectl: Path
    etcd: Path
    kwok: Path
    kwok_stages: Path

    @classmethod
    def locate(cls) -> Binaries:
        v = read_versions()
        root = cache_dir()
        k8s = root / f"kubernetes-{v['KUBERNETES_VERSION']}"
        etcd = root / f"etcd-{v['ETCD_VERSION']}"
        kwok = root / f"kwok-{v['KWOK_VERSION']}"
        found = cls(
            kubernetes_version=v["KUBERNETES_VERSION"],
            etcd_version=v["ETCD_VERSION"],
            kwok_version=v["KWOK_VERSION"],
            kube_apiserver=k8s / "kube-apiserver",
            kube_controller_manager=k8s / "kube-controller-manager",
            kube_scheduler=k8s / "kube-scheduler",
            kubectl=k8s / "kubectl",
            etcd=etcd / "etcd",
            kwok=kwok / "kwok",
            kwok_stages=kwok / "stages.yaml",
        )
        missing = [str(p) for p in found.paths() if not p.exists()]
        if missing:
            raise BinariesMissing(
                "control-plane binaries are not built: "
                + ", ".join(missing)
                + " (run `make cluster-binaries`)"
            )
        return found

    @property
    def kubernetes_dir(self) -> Path:
        return self.kube_apiserver.parent

    def paths(self) -> list[Path]:
        return [
            self.kube_apiserver,
            self.kube_controller_manager,
            self.kube_scheduler,
            self.kubectl,
            self.etcd,
            self.kwok,
            self.kwok_stages,
        ]


def cyclonus_verdicts() -> Path:
    """cyclonus's NetworkPolicy engine behind a JSON front end (tools/go/cyclonus), for connectivity tests."""
    version = read_versions()["CYCLONUS_VERSION"]
    path = cache_dir() / f"cyclonus-{version}" / "cyclonus-verdicts"
    if not path.exists():
        raise BinariesMissing(f"cyclonus is not built: {path} (run `make cluster-binaries`)")
    return path


def argocd_lua() -> Path:
    """Argo CD's Lua sandbox (tools/go/argocd-lua), for deploy/argocd's health and action scripts."""
    version = read_versions()["GOPHER_LUA_VERSION"]
    path = cache_dir() / f"argocd-lua-{version}" / "argocd-lua"
    if not path.exists():
        raise BinariesMissing(f"argocd-lua is not built: {path} (run `make cluster-binaries`)")
    return path


@dataclass(frozen=True)
class PrometheusBinaries:
    """Prometheus and promtool, built by `make cluster-binaries` beside the control plane."""

    version: str
    prometheus: Path
    promtool: Path

    @classmethod
    def locate(cls) -> PrometheusBinaries:
        version = read_versions()["PROMETHEUS_VERSION"]
        root = cache_dir() / f"prometheus-{version}"
        found = cls(version=version, prometheus=root / "prometheus", promtool=root / "promtool")
        missing = [str(p) for p in (found.prometheus, found.promtool) if not p.exists()]
        if missing:
            raise BinariesMissing(
                "Prometheus is not built: " + ", ".join(missing) + " (run `make cluster-binaries`)"
            )
        return found


@dataclass(frozen=True)
class NodeBinaries:
    """The real node's programs (tools/go/build-cluster-binaries.sh) and Debian's runc, CNI plugins, socat,
    and the iptables and ipset commands kube-proxy and kube-router run."""

    kubelet: Path
    kube_proxy: Path
    containerd: Path
    ctr: Path
    coredns: Path
    local_path_provisioner: Path
    kube_router: Path
    runc: Path
    cni_bridge: Path
    socat: Path
    iptables: Path
    ipset: Path

    @classmethod
    def locate(cls) -> NodeBinaries:
        v = read_versions()
        root = cache_dir()
        k8s = root / f"kubernetes-{v['KUBERNETES_VERSION']}"
        containerd = root / f"containerd-{v['CONTAINERD_VERSION']}"
        found = cls(
            kubelet=k8s / "kubelet",
            kube_proxy=k8s / "kube-proxy",
            containerd=containerd / "containerd",
            ctr=containerd / "ctr",
            coredns=root / f"coredns-{v['COREDNS_VERSION']}" / "coredns",
            local_path_provisioner=root
            / f"local-path-provisioner-{v['LOCAL_PATH_PROVISIONER_VERSION']}"
            / "local-path-provisioner",
            kube_router=root / f"kube-router-{v['KUBE_ROUTER_VERSION']}" / "kube-router",
            runc=Path("/usr/sbin/runc"),
            cni_bridge=Path("/usr/lib/cni/bridge"),
            socat=Path("/usr/bin/socat"),
            iptables=Path("/usr/sbin/iptables"),
            ipset=Path("/usr/sbin/ipset"),
        )
        missing = [p for p in found.paths() if not p.exists()]
        if missing:
            raise BinariesMissing("real-node binaries are missing: " + "; ".join(map(_how_to_get, missing)))
        return found

    def paths(self) -> list[Path]:
        return [
            self.kubelet,
            self.kube_proxy,
            self.containerd,
            self.containerd.with_name("containerd-shim-runc-v2"),
            self.ctr,
            self.coredns,
            self.local_path_provisioner,
            self.kube_router,
            self.runc,
            self.cni_bridge,
            self.socat,
            self.iptables,
            self.ipset,
        ]


def helm() -> Path:
    """Helm (tools/go/helm), for the chart's lint, its comparison with kustomize and its install."""
    return _helm_dir_binary("helm")


def kustomize() -> Path:
    """kustomize, the version kubectl embeds, built beside Helm: the chart's check needs no control plane."""
    return _helm_dir_binary("kustomize")


def _helm_dir_binary(name: str) -> Path:
    version = read_versions()["HELM_VERSION"]
    path = cache_dir() / f"helm-{version}" / name
    if not path.exists():
        raise BinariesMissing(
            f"{name} is not built: {path} (run `make cluster-binaries`, or "
            "`bash tools/go/build-cluster-binaries.sh helm` for Helm and kustomize alone)"
        )
    return path


def _how_to_get(path: Path) -> str:
    """A missing program and the set-up step that provides it: Go builds are cached by version, the rest
    are Debian packages (scripts/setup.sh's APT_PACKAGES)."""
    if path.is_relative_to(cache_dir()):
        return f"{path} (run `make cluster-binaries`)"
    return f"{path} (run `bash scripts/setup.sh apt`)"

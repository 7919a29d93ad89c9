"""Start and stop the local control plane: every process on 127.0.0.1, free ports, a temp data dir."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubelocal import audit_log, leaks, pki
from kubelocal.binaries import Binaries
from kubelocal.process import Supervised, free_port, wait_for
from kubelocal.realnode import layout as realnode_layout
from kubelocal.realnode import preflight as realnode_preflight
from kubelocal.realnode.node import RealNode
from kubelocal.wait import GiveUp, Timeout, eventually

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
KWOK_POD_CIDR = "10.244.0.1/17"
ISSUER = "https://kubernetes.default.svc.cluster.local"
START_TIMEOUT = 90.0
# kwok stages of our own, beside the cached kustomize set (a Job pod that fails, for the migration tests).
EXTRA_KWOK_STAGES = Path(__file__).with_name("kwok-stages.yaml")


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


@dataclass
class LocalCluster:
    """A control plane owned by this process. Use as a context manager, or start()/stop()."""

    nodes: int = 2
    workdir: Path | None = None
    binaries: Binaries = field(default_factory=Binaries.locate)
    components: dict[str, Supervised] = field(default_factory=dict)
    admin_token: str = ""
    server_url: str = ""
    startup_seconds: float = 0.0
    # A real node beside the kwok ones (kubelocal.realnode): None starts it where the machine allows
    # (`realnode.preflight`; WEBSTACK_REAL_NODE decides too); what happened is in `real_node` or, when it
    # did not start, in `real_node_reason` (one line).
    with_real_node: bool | None = False
    real_node: RealNode | None = None
    real_node_reason: str = ""
    _owns_workdir: bool = False

    # ------------------------------------------------------------------ paths
    @property
    def kubeconfig_path(self) -> Path:
        return self._dir / "admin.kubeconfig"

    @property
    def ca_path(self) -> Path:
        return self._dir / "pki" / "ca.crt"

    @property
    def logs_dir(self) -> Path:
        return self._dir / "logs"

    @property
    def audit_log_path(self) -> Path:
        """The apiserver's audit log (JSON lines): the operator account's writes (kubelocal.audit_log)."""
        return self.logs_dir / audit_log.LOG_NAME

    @property
    def _dir(self) -> Path:
        assert self.workdir is not None, "cluster not started"
        return self.workdir

    # -------------------------------------------------------------- lifecycle
    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalCluster:
        t0 = time.monotonic()
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="webstack-cluster-"))
            self._owns_workdir = True
        (self._dir / "pki").mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(exist_ok=True)
        try:
            pki.generate(self._dir / "pki", service_ip=SERVICE_IP)
            self.admin_token = secrets.token_hex(24)
            (self._dir / "tokens.csv").write_text(f"{self.admin_token},admin,admin,system:masters\n")
            self._start_etcd()
            self._start_apiserver()
            self._write_kubeconfig(self.kubeconfig_path, token=self.admin_token)
            leaks.LIVE_CLUSTERS.add(self.kubeconfig_path)
            self._start_controller_manager()
            self._start_scheduler()
            self._start_kwok()
            self._create_nodes()
            self._wait_nodes_ready()
            self.start_real_node(self.with_real_node)
            self._wait(
                "default ServiceAccount",
                lambda: (
                    self.kubectl("get", "serviceaccount", "default", "-n", "default", check=False).returncode
                    == 0
                ),
            )
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self

    def stop(self) -> None:
        """Stops every component by its own pid, newest first; removes the temp dir it created. First the
        passwords its Secrets hold are noted for the run's log search (kubelocal.leaks)."""
        node, self.real_node = self.real_node, None
        try:
            if node is not None:
                node.stop()
        finally:
            self._stop_control_plane()

    def _stop_control_plane(self) -> None:
        apiserver = self.components.get("kube-apiserver")
        if apiserver is not None and apiserver.alive() and self.kubeconfig_path.exists():
            leaks.harvest(self.kubeconfig_path)
        if self.workdir is not None:
            leaks.LIVE_CLUSTERS.discard(self.kubeconfig_path)
        for name in reversed(list(self.components)):
            self.components[name].stop()
        if (
            self._owns_workdir
            and self.workdir is not None
            and not os.environ.get("WEBSTACK_KEEP_CLUSTER_DIR")
        ):
            shutil.rmtree(self.workdir, ignore_errors=True)

    def pids(self) -> list[int]:
        return [c.pid for c in self.components.values() if c.pid is not None]

    def rss_bytes(self) -> dict[str, int]:
        return {name: c.rss_bytes() for name, c in self.components.items()}

    def tail_logs(self, lines: int = 30) -> str:
        return "\n".join(f"--- {n} (last {lines} lines)\n{c.tail(lines)}" for n, c in self.components.items())

    def start_extra(self, name: str, argv: list[str]) -> None:
        """Another process owned (and stopped) with the control plane, e.g. a controller under test."""
        self._add(name, argv)

    def start_argo_rollouts(self) -> bool:
        """Argo Rollouts' controller (built by tools/go/build-cluster-binaries.sh), so Rollouts really roll.
        Its CRDs must be installed first. False when it was not built."""
        found = sorted(self.binaries.kubernetes_dir.parent.glob("argo-rollouts-*/rollouts-controller"))
        if not found:
            return False
        if "argo-rollouts" not in self.components:
            self.start_extra(
                "argo-rollouts",
                [
                    str(found[-1]),
                    f"--kubeconfig={self.kubeconfig_path}",
                    "--leader-elect=false",
                    f"--healthzPort={free_port()}",
                    f"--metricsPort={free_port()}",
                    "--loglevel=warn",
                ],
            )
        return True

    def restart_apiserver(self) -> None:
        """Stops and starts kube-apiserver on the same port and storage, as an upgrade or crash would."""
        comp = self.components["kube-apiserver"]
        comp.stop()
        comp.start()
        self._wait_apiserver_ready(comp)

    # ---------------------------------------------------------------- helpers
    def kubectl(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return run_kubectl(self.binaries.kubectl, self.kubeconfig_path, args, input, check, timeout)

    def _write_kubeconfig(
        self, path: Path, *, token: str, user: str = "admin", namespace: str = "default"
    ) -> None:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "webstack-local",
                    "cluster": {"server": self.server_url, "certificate-authority": str(self.ca_path)},
                }
            ],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [
                {
                    "name": "webstack-local",
                    "context": {"cluster": "webstack-local", "user": user, "namespace": namespace},
                }
            ],
            "current-context": "webstack-local",
        }
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)

    def _add(self, name: str, argv: list[str], also_logs: Callable[[], Iterable[Path]] = tuple) -> Supervised:
        comp = Supervised(name, argv, self.logs_dir / f"{name}.log", also_logs=also_logs)
        self.components[name] = comp
        return comp.start()

    def _wait(self, what: str, check: Callable[[], bool], comp: Supervised | None = None) -> None:
        try:
            if comp is None:
                eventually(check, timeout=START_TIMEOUT, interval=0.1, what=what)
            else:
                wait_for(comp, check, timeout=START_TIMEOUT, what=what)
        except (Timeout, GiveUp) as e:
            raise ClusterError(str(e) if comp else f"{e}\n{self.tail_logs()}") from e

    def _https_ok(self, url: str, *, verify: bool = True, token: str | None = None) -> bool:
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        if not verify:
            # The controller manager and scheduler serve health on a self-signed certificate of their own.
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        req = urllib.request.Request(url)  # noqa: S310 - https to our own loopback components
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except urllib.error.HTTPError:
            return False

    # ------------------------------------------------------------- components
    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self._etcd_url = f"http://127.0.0.1:{client}"
        peer_url = f"http://127.0.0.1:{peer}"
        comp = self._add(
            "etcd",
            [
                str(self.binaries.etcd),
                f"--data-dir={self._dir / 'etcd'}",
                f"--listen-client-urls={self._etcd_url}",
                f"--advertise-client-urls={self._etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=default={peer_url}",
                "--unsafe-no-fsync",  # throwaway data: durability buys nothing, fsync costs seconds
                "--log-level=warn",
            ],
        )

        def healthy() -> bool:
            with urllib.request.urlopen(f"{self._etcd_url}/health", timeout=2) as resp:  # noqa: S310
                return bool(json.loads(resp.read()).get("health") == "true")

        self._wait("etcd /health", healthy, comp)

    def _start_apiserver(self) -> None:
        port = free_port()
        self.server_url = f"https://127.0.0.1:{port}"
        p = self._dir / "pki"
        # Bound to system:kubelet-api-admin where a real node runs (realnode.objects.kubelet_api_access).
        kubelet_client = pki.issue_client_certificate(p, "kube-apiserver-kubelet-client")
        audit_policy = self._dir / audit_log.POLICY_NAME
        audit_policy.write_text(json.dumps(audit_log.policy(), indent=2))
        comp = self._add(
            "kube-apiserver",
            [
                str(self.binaries.kube_apiserver),
                f"--etcd-servers={self._etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--tls-cert-file={p / 'apiserver.crt'}",
                f"--tls-private-key-file={p / 'apiserver.key'}",
                f"--client-ca-file={p / 'ca.crt'}",
                f"--token-auth-file={self._dir / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                # The default plugin set of a real cluster, plus NodeRestriction as kubeadm enables it.
                "--enable-admission-plugins=NodeRestriction",
                f"--service-account-issuer={ISSUER}",
                f"--api-audiences={ISSUER}",
                f"--service-account-key-file={p / 'sa.pub'}",
                f"--service-account-signing-key-file={p / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--allow-privileged=true",
                # logs, exec and port-forward reach a real node's kubelet with this identity, at its node IP.
                f"--kubelet-client-certificate={kubelet_client[0]}",
                f"--kubelet-client-key={kubelet_client[1]}",
                "--kubelet-preferred-address-types=InternalIP",
                "--profiling=false",
                # The endpoint reconciler refuses a loopback advertise address (as envtest found too); the
                # `kubernetes` Service's endpoints are not used by anything on this host.
                "--endpoint-reconciler-type=none",
                *audit_log.apiserver_flags(audit_policy, self.audit_log_path),
                "--v=1",
            ],
            also_logs=lambda: audit_log.log_files(self.audit_log_path),
        )
        self._wait_apiserver_ready(comp)

    def _wait_apiserver_ready(self, comp: Supervised) -> None:
        self._wait(
            "kube-apiserver /readyz",
            lambda: self._https_ok(f"{self.server_url}/readyz", token=self.admin_token),
            comp,
        )

    def _start_kube_component(self, name: str, binary: Path, *flags: str) -> None:
        """kube-controller-manager or kube-scheduler: the admin kubeconfig, and health on its own port."""
        port, kubeconfig = free_port(), str(self.kubeconfig_path)
        comp = self._add(
            name,
            [
                str(binary),
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--bind-address=127.0.0.1",
                f"--secure-port={port}",
                "--v=1",
                *flags,
            ],
        )
        self._wait(
            f"{name} /healthz",
            lambda: self._https_ok(f"https://127.0.0.1:{port}/healthz", verify=False),
            comp,
        )

    def _start_controller_manager(self) -> None:
        p = self._dir / "pki"
        self._start_kube_component(
            "kube-controller-manager",
            self.binaries.kube_controller_manager,
            f"--service-account-private-key-file={p / 'sa.key'}",
            f"--root-ca-file={p / 'ca.crt'}",
            "--use-service-account-credentials=true",
            "--controllers=*",
            f"--cluster-cidr={POD_CIDR}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
        )

    def _start_scheduler(self) -> None:
        self._start_kube_component("kube-scheduler", self.binaries.kube_scheduler)

    def _start_kwok(self) -> None:
        port = free_port()
        comp = self._add(
            "kwok",
            [
                str(self.binaries.kwok),
                f"--kubeconfig={self.kubeconfig_path}",
                f"--config={self._kwok_stages()}",
                f"--config={EXTRA_KWOK_STAGES}",
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                # The lower half of the pod range: the real node's pods live in the upper (10.244.250.0/24).
                f"--cidr={KWOK_POD_CIDR}",
                "--node-ip=127.0.0.1",
                # The heartbeat stage renews node status only every ~10 minutes and relies on a Lease for
                # liveness; without this flag there is no Lease and nodes flap NotReady (and pods with them).
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{port}",
            ],
        )

        def healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
                return bool(resp.status == 200)

        self._wait("kwok /healthz", healthy, comp)
        # kwok creates a StorageClass in none of its binary modes; the volume stages provision every class.
        self.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(_storage_class()))

    def _kwok_stages(self) -> Path:
        """The cached stages, except that kwok leaves PVCs of the real node's storage class alone (the
        local-path provisioner binds those to directories)."""
        text = realnode_layout.kwok_stages_leaving_local_path(self.binaries.kwok_stages.read_text())
        path = self._dir / "kwok-stages.yaml"
        path.write_text(text)
        return path

    def start_real_node(self, wanted: bool | None = None) -> RealNode | None:
        """The real node where the machine allows it (kubelocal.realnode.preflight), beside a running
        control plane. A test session starts it only when a test asks for one: of the parallel workers'
        clusters, only that one holds the machine's single real node."""
        if self.real_node is None:
            self.real_node, self.real_node_reason = realnode_preflight.start_node(
                wanted=wanted,
                root=self._dir / "real-node",
                pki_dir=self._dir / "pki",
                server_url=self.server_url,
                cluster_cidr=POD_CIDR,
                kubectl=self.kubectl,
                components=self.components,
                logs_dir=self.logs_dir,
            )
        return self.real_node

    def _create_nodes(self) -> None:
        items = [_node(f"kwok-node-{i}") for i in range(self.nodes)]
        self.kubectl(
            "apply",
            "--server-side",
            "-f",
            "-",
            input=json.dumps({"apiVersion": "v1", "kind": "List", "items": items}),
        )

    def _wait_nodes_ready(self) -> None:
        def ready() -> bool:
            out = self.kubectl("get", "nodes", "-o", "json").stdout
            nodes = json.loads(out)["items"]
            return len(nodes) >= self.nodes and all(_condition(n, "Ready") == "True" for n in nodes)

        self._wait("nodes Ready", ready, self.components["kwok"])


def _condition(obj: dict[str, Any], kind: str) -> str | None:
    for cond in obj.get("status", {}).get("conditions", []) or []:
        if cond.get("type") == kind:
            return str(cond.get("status"))
    return None


def _node(name: str) -> dict[str, Any]:
    capacity = {"cpu": "64", "memory": "512Gi", "pods": "1000", "ephemeral-storage": "1Ti"}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
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


def _storage_class() -> dict[str, Any]:
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


@contextlib.contextmanager
def running(nodes: int = 2) -> Iterator[LocalCluster]:
    cluster = LocalCluster(nodes=nodes)
    with cluster:
        yield cluster

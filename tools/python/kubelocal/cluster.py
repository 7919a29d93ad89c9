"""Start and stop the local control plane: every process on 127.0.0.1, free ports, a temp data dir."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kubelocal import argo_rollouts, audit_log, health, kwok, leaks, pki
from kubelocal.binaries import Binaries
from kubelocal.control_plane import (
    ISSUER,
    POD_CIDR,
    SERVICE_CIDR,
    SERVICE_IP,
    apiserver_command,
    controller_manager_flags,
    etcd_command,
    kube_component_command,
)
from kubelocal.kubeconfig import kubeconfig, write_kubeconfig
from kubelocal.kubectl import ClusterError, run_kubectl
from kubelocal.kwok import EXTRA_KWOK_STAGES, KWOK_POD_CIDR
from kubelocal.process import Supervised, free_port, wait_for
from kubelocal.realnode import preflight as realnode_preflight
from kubelocal.realnode.node import RealNode
from kubelocal.wait import GiveUp, Timeout, eventually

START_TIMEOUT = 90.0

__all__ = [
    "EXTRA_KWOK_STAGES",
    "ISSUER",
    "KWOK_POD_CIDR",
    "POD_CIDR",
    "SERVICE_CIDR",
    "SERVICE_IP",
    "START_TIMEOUT",
    "ClusterError",
    "LocalCluster",
    "run_kubectl",
    "running",
]


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
            write_kubeconfig(
                self.kubeconfig_path, kubeconfig(self.server_url, self.ca_path, token=self.admin_token)
            )
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
        controller = argo_rollouts.find_controller(self.binaries.kubernetes_dir)
        if controller is None:
            return False
        if "argo-rollouts" not in self.components:
            argv = argo_rollouts.controller_command(
                controller, self.kubeconfig_path, free_port(), free_port()
            )
            self.start_extra("argo-rollouts", argv)
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

    # ------------------------------------------------------------- components
    def _start_etcd(self) -> None:
        client, peer = free_port(), free_port()
        self._etcd_url = f"http://127.0.0.1:{client}"
        argv = etcd_command(
            self.binaries.etcd, self._dir / "etcd", self._etcd_url, f"http://127.0.0.1:{peer}"
        )
        self._wait("etcd /health", lambda: health.etcd_healthy(self._etcd_url), self._add("etcd", argv))

    def _start_apiserver(self) -> None:
        port = free_port()
        self.server_url = f"https://127.0.0.1:{port}"
        p = self._dir / "pki"
        # Bound to system:kubelet-api-admin where a real node runs (realnode.objects.kubelet_api_access).
        kubelet_client = pki.issue_client_certificate(p, "kube-apiserver-kubelet-client")
        audit_policy = self._dir / audit_log.POLICY_NAME
        audit_policy.write_text(json.dumps(audit_log.policy(), indent=2))
        argv = apiserver_command(
            self.binaries.kube_apiserver,
            etcd_url=self._etcd_url,
            port=port,
            pki_dir=p,
            tokens_file=self._dir / "tokens.csv",
            kubelet_client=kubelet_client,
            audit_flags=audit_log.apiserver_flags(audit_policy, self.audit_log_path),
        )
        comp = self._add("kube-apiserver", argv, also_logs=lambda: audit_log.log_files(self.audit_log_path))
        self._wait_apiserver_ready(comp)

    def _wait_apiserver_ready(self, comp: Supervised) -> None:
        self._wait(
            "kube-apiserver /readyz",
            lambda: health.https_ok(f"{self.server_url}/readyz", self.ca_path, token=self.admin_token),
            comp,
        )

    def _start_kube_component(self, name: str, binary: Path, *flags: str) -> None:
        """kube-controller-manager or kube-scheduler: the admin kubeconfig, and health on its own port."""
        port = free_port()
        comp = self._add(name, kube_component_command(binary, self.kubeconfig_path, port, *flags))
        self._wait(
            f"{name} /healthz",
            lambda: health.https_ok(f"https://127.0.0.1:{port}/healthz", self.ca_path, verify=False),
            comp,
        )

    def _start_controller_manager(self) -> None:
        self._start_kube_component(
            "kube-controller-manager",
            self.binaries.kube_controller_manager,
            *controller_manager_flags(self._dir / "pki"),
        )

    def _start_scheduler(self) -> None:
        self._start_kube_component("kube-scheduler", self.binaries.kube_scheduler)

    def _start_kwok(self) -> None:
        port = free_port()
        stages = kwok.write_stages(self.binaries.kwok_stages, self._dir)
        comp = self._add("kwok", kwok.kwok_command(self.binaries.kwok, self.kubeconfig_path, stages, port))
        self._wait("kwok /healthz", lambda: health.http_ok(f"http://127.0.0.1:{port}/healthz"), comp)
        self.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(kwok.storage_class()))

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
        self.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(kwok.kwok_nodes(self.nodes)))

    def _wait_nodes_ready(self) -> None:
        def ready() -> bool:
            return kwok.nodes_ready(json.loads(self.kubectl("get", "nodes", "-o", "json").stdout), self.nodes)

        self._wait("nodes Ready", ready, self.components["kwok"])


@contextlib.contextmanager
def running(nodes: int = 2) -> Iterator[LocalCluster]:
    cluster = LocalCluster(nodes=nodes)
    with cluster:
        yield cluster

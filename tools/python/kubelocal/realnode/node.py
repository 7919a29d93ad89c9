"""Starts and stops the real node's components in order: containerd, the lab images, the kubelet, then
the API relay, kube-proxy, kube-router's NetworkPolicy firewall, CoreDNS and the local-path provisioner; a
stop also puts the machine back (`host`)."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kubelocal import leaks, pki
from kubelocal.binaries import NodeBinaries
from kubelocal.control_plane import SERVICE_CIDR
from kubelocal.process import Supervised, free_port, wait_for
from kubelocal.realnode import firewall, host, objects
from kubelocal.realnode.layout import (
    APISERVER_PORT_ON_NODE,
    LAB_PREFIX,
    LABEL,
    NODE_IP,
    NODE_NAME,
    PROVISIONER_NAMESPACE,
    NodeLayout,
    as_text,
    cni_config,
    containerd_config,
    corefile,
    kube_proxy_config,
    kubeconfig,
    kubelet_config,
    resolv_conf,
)
from labimages import LabImage

START_TIMEOUT = 120.0
Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def upstream_resolvers(resolv: Path = Path("/etc/resolv.conf")) -> tuple[str, ...]:
    """The machine's resolvers, minus loopback ones (a pod's loopback is its own)."""
    found = []
    for line in resolv.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and not parts[1].startswith("127."):
            found.append(parts[1])
    return tuple(found)


@dataclass
class RealNode:
    """One real node; `components` is the cluster's, so its processes show in its logs and pid lists."""

    root: Path
    # containerd's root (its image store), kept between runs; one node at a time uses it (host.claim).
    images_root: Path
    pki_dir: Path
    server_url: str
    cluster_cidr: str
    kubectl: Kubectl
    components: dict[str, Supervised]
    logs_dir: Path
    images: Sequence[LabImage]
    pause_image: str
    helper_image: str
    binaries: NodeBinaries = field(default_factory=NodeBinaries.locate)
    timings: dict[str, float] = field(default_factory=dict)
    _claim: host.Claim | None = None
    _layout: NodeLayout | None = None

    @property
    def layout(self) -> NodeLayout:
        assert self._layout is not None, "real node not started"
        return self._layout

    def start(self) -> None:
        self._layout = NodeLayout(
            root=self.root,
            images_root=self.images_root,
            pause_image=self.pause_image,
            helper_image=self.helper_image,
            upstream_dns=upstream_resolvers(),
            kubelet_port=free_port(),
            kubelet_healthz_port=free_port(),
            proxy_healthz_port=free_port(),
            proxy_metrics_port=free_port(),
            dns_health_port=free_port(),
            dns_ready_port=free_port(),
        )
        self._claim = host.claim(self.layout, self.cluster_cidr, self.binaries.kube_proxy)
        try:
            for step in (
                self._start_containerd,
                self._load_images,
                self._start_kubelet,
                self._start_services,
            ):
                t0 = time.monotonic()
                step()
                self.timings[step.__name__.strip("_")] = time.monotonic() - t0
        except BaseException as e:
            try:
                self.stop()
            except Exception as cleanup:
                e.add_note(f"and the cleanup after it failed: {cleanup}")
            raise

    def stop(self) -> None:
        """Components newest first, then every container, mount, cgroup, chain and setting they left; then
        the lock. Each step runs whatever an earlier one did; the first failure is raised at the end."""
        if self._layout is None or self._claim is None:
            return
        claim, self._claim = self._claim, None
        errors: list[BaseException] = []

        def attempt(step: Callable[[], object]) -> None:
            try:
                step()
            except Exception as e:
                errors.append(e)

        for name in (
            "local-path-provisioner",
            "coredns",
            "kube-router",
            "kube-proxy",
            "apiserver-relay",
            "kubelet",
        ):
            if name in self.components:
                attempt(lambda name=name: self.components[name].stop(timeout=10))  # type: ignore[misc]
        attempt(lambda: host.kill_containers(self.layout.containerd_socket, self.layout.cgroup_parent))
        attempt(self._keep_pod_logs)
        containerd = self.components.get("containerd")
        if containerd is not None and containerd.alive():
            attempt(self._forget_containers)
            attempt(lambda: containerd.stop(timeout=10))
        try:
            attempt(lambda: host.clean(claim.state))
        finally:
            claim.release()
        if errors:
            raise errors[0]

    def _keep_pod_logs(self) -> None:
        """Every container log still on the node, for the run's search for leaked passwords."""
        logs = self.layout.pod_logs_dir
        for path in sorted(logs.rglob("*.log")) if logs.is_dir() else []:
            leaks.keep_log(path, "pod-" + "-".join(path.relative_to(logs).parts))

    def _forget_containers(self) -> None:
        """Containers and sandboxes leave containerd's metadata with the cluster: its image store is kept
        between runs (`images_root`), their records would not be."""
        for kind in ("containers", "sandboxes"):
            records = self._ctr(kind, "list", "--quiet").stdout.split()
            if records:
                self._ctr(kind, "remove", *(["--force"] if kind == "sandboxes" else []), *records)

    # ------------------------------------------------------------------ steps
    def _add(
        self, name: str, argv: list[str], env: dict[str, str] | None = None, *, whole_group: bool = False
    ) -> Supervised:
        comp = Supervised(name, argv, self.logs_dir / f"{name}.log", env=env, whole_group=whole_group)
        self.components[name] = comp
        return comp.start()

    def _client(self, name: str, user: str, groups: Sequence[str] = ()) -> Path:
        cert, key = pki.issue_client_certificate(self.pki_dir, user, groups)
        path = self.root / f"{name}.kubeconfig"
        path.write_text(as_text(kubeconfig(self.server_url, self.pki_dir / "ca.crt", cert, key, user)))
        path.chmod(0o600)
        return path

    def _start_containerd(self) -> None:
        layout = self.layout
        for d in (layout.kubelet_dir, layout.volumes_dir, layout.cni_conf_dir, layout.images_root):
            d.mkdir(parents=True, exist_ok=True)
        host.prepare_network(self.cluster_cidr)
        host.make_cgroups(layout.cgroup_parent)
        (layout.cni_conf_dir / "10-webstack-lab.conflist").write_text(as_text(cni_config()))
        config = self.root / "containerd.toml"
        config.write_text(containerd_config(layout, str(self.binaries.runc)))
        # The shim is found on PATH, beside containerd.
        path = f"{self.binaries.containerd.parent}:{os.environ.get('PATH', '/usr/sbin:/usr/bin:/sbin:/bin')}"
        comp = self._add(
            "containerd", [str(self.binaries.containerd), f"--config={config}"], {**os.environ, "PATH": path}
        )
        wait_for(comp, lambda: self._ctr("version").returncode == 0, timeout=START_TIMEOUT, what="containerd")

    def _ctr(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                str(self.binaries.ctr),
                f"--address={self.layout.containerd_socket}",
                "--namespace=k8s.io",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def tag_image(self, source: str, target: str) -> None:
        """Another name for an image containerd holds, as a registry push of a new tag would give: a
        Deployment rolled to it gets a new pod template running the same bytes. Nothing is owed back: the
        next start's `_load_images` removes every `webstack.lab/` name it did not import."""
        result = self._ctr("images", "tag", "--force", source, target)
        if result.returncode != 0:
            raise RuntimeError(f"ctr images tag {source} {target}: {result.stderr.strip()}")

    def _load_images(self) -> None:
        """Every lab image into containerd's k8s.io namespace before any pod asks (the sandbox image is
        pinned; pods use imagePullPolicy Never or IfNotPresent): nothing is ever pulled.

        containerd's image store outlives the cluster (`NodeLayout.images_root`): an image is imported
        only when its archive (named by its inputs' hash) differs from the one loaded last time, which
        saves most of a minute per start; what a previous run left in that store is removed first.
        """
        self._forget_containers()  # what a crashed run left
        record = self.layout.images_root / "loaded.json"
        try:
            loaded: dict[str, str] = json.loads(record.read_text())
        except (OSError, ValueError):
            loaded = {}
        present = set(self._ctr("images", "list", "--quiet").stdout.split())
        for image in self.images:
            if loaded.get(image.reference) == image.archive.name and image.reference in present:
                continue
            result = self._ctr("images", "import", str(image.archive))
            if result.returncode != 0:
                raise RuntimeError(
                    f"importing {image.reference} from {image.archive}: {result.stderr.strip()}"
                )
            loaded[image.reference] = image.archive.name
            record.write_text(json.dumps(loaded, indent=1, sort_keys=True))
        present = set(self._ctr("images", "list", "--quiet").stdout.split())
        missing = [i.reference for i in self.images if i.reference not in present]
        if missing:
            raise RuntimeError(f"containerd lacks {', '.join(missing)} after import")
        wanted = {i.reference for i in self.images}
        retired = [ref for ref in present if ref.startswith(LAB_PREFIX) and ref not in wanted]
        if retired:
            self._ctr("images", "remove", *retired)

    def _start_kubelet(self) -> None:
        layout = self.layout
        kubeconfig_path = self._client("kubelet", f"system:node:{NODE_NAME}", ["system:nodes"])
        (self.root / "resolv.conf").write_text(resolv_conf(layout))
        config = self.root / "kubelet.json"
        config.write_text(as_text(kubelet_config(layout, self.pki_dir / "ca.crt")))
        comp = self._add(
            "kubelet",
            [
                str(self.binaries.kubelet),
                f"--config={config}",
                f"--kubeconfig={kubeconfig_path}",
                f"--root-dir={layout.kubelet_dir}",
                f"--cert-dir={self.root / 'kubelet-pki'}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                f"--node-labels={LABEL}=true",
                "--v=1",
            ],
        )
        wait_for(comp, self._node_ready, timeout=START_TIMEOUT, what=f"node {NODE_NAME} Ready")

    def _node_ready(self) -> bool:
        out = self.kubectl("get", "node", NODE_NAME, "-o", "json", check=False)
        if out.returncode != 0:
            return False
        conditions = json.loads(out.stdout).get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def _start_api_relay(self) -> None:
        """Pods' way to the apiserver, which listens on loopback only: socat on the node address, one
        forked relay per connection, TLS passing through untouched (the serving certificate names
        kubernetes.default.svc and the Service IP, so pods verify it as on any cluster)."""
        apiserver = urllib.parse.urlsplit(self.server_url)
        listen = f"TCP-LISTEN:{APISERVER_PORT_ON_NODE},bind={NODE_IP},reuseaddr,fork"
        relay = self._add(
            "apiserver-relay",
            [str(self.binaries.socat), listen, f"TCP:{apiserver.hostname}:{apiserver.port}"],
            whole_group=True,  # its relays of open watches would outlive it
        )
        context = ssl.create_default_context(cafile=str(self.pki_dir / "ca.crt"))
        wait_for(
            relay,
            lambda: _tls_handshake((NODE_IP, APISERVER_PORT_ON_NODE), context, "kubernetes.default.svc"),
            timeout=START_TIMEOUT,
            what=f"the apiserver through {NODE_IP}:{APISERVER_PORT_ON_NODE}",
        )

    def _start_firewall(self) -> Supervised:
        """kube-router's network policy controller: every NetworkPolicy is enforced on this node's pods."""
        kubeconfig_path = self._client("kube-router", objects.KUBE_ROUTER_USER)
        argv = firewall.command_line(self.binaries.kube_router, kubeconfig_path, SERVICE_CIDR)
        # It runs `iptables` and `ipset` from PATH (a test runner's PATH may lack /usr/sbin).
        sbin = f"{self.binaries.ipset.parent}:{self.binaries.iptables.parent}"
        return self._add("kube-router", argv, {**os.environ, "PATH": f"{sbin}:{os.environ.get('PATH', '')}"})

    def _start_provisioner(self) -> None:
        """Rancher's local-path provisioner: PVCs bound to directories under the node's root."""
        layout = self.layout
        # Read at start (then the ConfigMap): the settings and the helper pod, as files.
        config, helper = self.root / "local-path-config.json", self.root / "local-path-helper-pod.json"
        config.write_text(as_text(objects.provisioner_config(layout)))
        helper.write_text(as_text(objects.helper_pod(layout.helper_image)))
        provisioner_kubeconfig = self._client("local-path-provisioner", objects.PROVISIONER_USER)
        self._add(
            "local-path-provisioner",
            [
                str(self.binaries.local_path_provisioner),
                "start",
                f"--kubeconfig={provisioner_kubeconfig}",
                f"--config={config}",
                f"--helper-pod-file={helper}",
                f"--provisioner-name={objects.PROVISIONER_NAME}",
                f"--namespace={PROVISIONER_NAMESPACE}",
                f"--helper-image={layout.helper_image}",
                f"--configmap-name={objects.PROVISIONER_CONFIGMAP}",
                f"--service-account-name={objects.PROVISIONER_SERVICE_ACCOUNT}",
            ],
        )

    def _start_services(self) -> None:
        """The API relay, kube-proxy (ClusterIPs), kube-router (NetworkPolicies), CoreDNS (names) and the
        provisioner (PVCs), with their objects."""
        layout = self.layout
        self._start_api_relay()
        manifest = {
            "apiVersion": "v1",
            "kind": "List",
            "items": [
                objects.apiserver_endpoints(),
                *objects.cluster_dns(),
                *objects.storage(layout),
                *objects.kubelet_api_access(),
                *objects.network_policy_controller(),
            ],
        }
        self.kubectl(
            "apply", "--server-side", "--field-manager=kubelocal", "-f", "-", input=json.dumps(manifest)
        )
        proxy_config = self.root / "kube-proxy.json"
        proxy_kubeconfig = self._client("kube-proxy", "system:kube-proxy")
        proxy_config.write_text(as_text(kube_proxy_config(layout, proxy_kubeconfig, self.cluster_cidr)))
        proxy = self._add("kube-proxy", [str(self.binaries.kube_proxy), f"--config={proxy_config}", "--v=1"])
        policies = self._start_firewall()
        corefile_path = self.root / "Corefile"
        corefile_path.write_text(corefile(layout, self._client("coredns", objects.COREDNS_USER)))
        dns = self._add("coredns", [str(self.binaries.coredns), "-conf", str(corefile_path)])
        self._start_provisioner()
        wait_for(
            proxy,
            lambda: _http_ok(f"http://127.0.0.1:{layout.proxy_healthz_port}/healthz"),
            timeout=START_TIMEOUT,
            what="kube-proxy /healthz",
        )
        wait_for(
            dns,
            lambda: _http_ok(f"http://127.0.0.1:{layout.dns_ready_port}/ready"),
            timeout=START_TIMEOUT,
            what="CoreDNS /ready",
        )
        wait_for(
            policies,
            lambda: firewall.enforcing(host.run("iptables-save", "-t", "filter").stdout),
            timeout=START_TIMEOUT,
            what="kube-router's NetworkPolicy chains",
        )


def _tls_handshake(address: tuple[str, int], context: ssl.SSLContext, server_name: str) -> bool:
    """A completed handshake checks the path and the certificate's name as a pod would see them."""
    try:
        with (
            socket.create_connection(address, timeout=2) as raw,
            context.wrap_socket(raw, server_hostname=server_name),
        ):
            return True
    except (OSError, ssl.SSLError):
        return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - loopback health endpoints
            return bool(resp.status == 200)
    except (OSError, ssl.SSLError):
        return False

"""The real node's addresses, paths and configuration files, rendered from one `NodeLayout` (no I/O).

Every address lives only inside this machine: the node IP is a /32 on `lo` taken from 198.18.0.0/15 (kept
for benchmarking networks, RFC 2544, so nothing outside routes it), pods get a /24 of the cluster's pod
range on a bridge of their own, and cluster DNS is a Service address like kubeadm's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NODE_NAME = "webstack-real-node"
NODE_IP = "198.18.0.1"
POD_SUBNET = "10.244.250.0/24"
BRIDGE = "webstack0"
CNI_NETWORK = "webstack-lab"
CLUSTER_DOMAIN = "cluster.local"
CLUSTER_DNS_IP = "10.96.0.10"
# Where pods reach the apiserver: the `kubernetes` Service's endpoint, a relay on the node address to the
# loopback apiserver. 6443 as kubeadm's apiservers use (what an egress NetworkPolicy for the API allows).
APISERVER_PORT_ON_NODE = 6443
# Only pods that ask for the real node land there; every kwok-only test keeps running on kwok.
LABEL = "webstack.dev/real-node"
TAINT = {"key": LABEL, "value": "true", "effect": "NoSchedule"}
TOLERATION = {"key": LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}
STORAGE_CLASS = "local-path"
PROVISIONER_NAMESPACE = "local-path-storage"
CNI_BIN_DIR = "/usr/lib/cni"
# Every lab image is named under this prefix (tools/images), never with an official image's name.
LAB_PREFIX = "webstack.lab/"

JSON = dict[str, Any]


@dataclass(frozen=True)
class NodeLayout:
    """Where one real node keeps its state and which loopback ports its components answer on."""

    root: Path
    images_root: Path
    pause_image: str
    helper_image: str
    upstream_dns: tuple[str, ...]
    kubelet_port: int
    kubelet_healthz_port: int
    proxy_healthz_port: int
    proxy_metrics_port: int
    dns_health_port: int
    dns_ready_port: int

    @property
    def containerd_socket(self) -> Path:
        return self.root / "containerd.sock"

    @property
    def kubelet_dir(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs_dir(self) -> Path:
        """Containers' logs (the kubelet's default, /var/log/pods, would outlive the cluster)."""
        return self.root / "pod-logs"

    @property
    def volumes_dir(self) -> Path:
        """Where the local-path provisioner makes each PVC's directory."""
        return self.root / "volumes"

    @property
    def cni_conf_dir(self) -> Path:
        return self.root / "cni"

    @property
    def cgroup_parent(self) -> str:
        """The kubelet's cgroup root: every pod's cgroup sits under it, so a crashed run's are found."""
        return "/webstack-real-node"


def containerd_config(layout: NodeLayout, runc: str) -> str:
    """containerd v2's config (version 3). `restrict_oom_score_adj`: root here lacks CAP_SYS_RESOURCE, and
    runc fails writing a lower oom_score_adj than its own; cgroupfs because no systemd runs this machine."""
    root = layout.root
    return f"""version = 3
root = "{layout.images_root}"
state = "{root / "containerd" / "state"}"

[grpc]
  address = "{layout.containerd_socket}"

[ttrpc]
  address = "{layout.containerd_socket}.ttrpc"

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  # Pod network namespaces under the state dir, so a stop (or the next start) finds them to unmount.
  netns_mounts_under_state_dir = true
  enable_selinux = false
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        BinaryName = "{runc}"
        SystemdCgroup = false
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["{CNI_BIN_DIR}"]
    conf_dir = "{layout.cni_conf_dir}"
    max_conf_num = 1

[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "{layout.pause_image}"
"""


def cni_config() -> JSON:
    """A bridge with host-local addresses: pod-to-pod and pod-to-node traffic, nothing leaves the machine
    (no masquerade: pods have no business outside it)."""
    return {
        "cniVersion": "1.0.0",
        "name": CNI_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": BRIDGE,
                "isGateway": True,
                "ipMasq": False,
                "hairpinMode": True,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": POD_SUBNET}]],
                    "routes": [{"dst": "0.0.0.0/0"}],
                },
            },
            {"type": "loopback"},
        ],
    }


def kubeconfig(server: str, ca: Path, cert: Path, key: Path, user: str) -> JSON:
    """A kubeconfig for one component's client certificate."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }


def kubelet_config(layout: NodeLayout, client_ca: Path) -> JSON:
    """KubeletConfiguration for this machine: cgroup v1 allowed (`failCgroupV1: false`, v1.37 refuses it
    otherwise), cgroupfs, no swap check, and eviction thresholds a small shared disk does not trip."""
    return {
        "apiVersion": "kubelet.config.k8s.io/v1beta1",
        "kind": "KubeletConfiguration",
        "failCgroupV1": False,
        "cgroupDriver": "cgroupfs",
        "cgroupsPerQOS": True,
        "cgroupRoot": layout.cgroup_parent,
        "enforceNodeAllocatable": ["pods"],
        "failSwapOn": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "address": NODE_IP,
        "port": layout.kubelet_port,
        "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1",
        "healthzPort": layout.kubelet_healthz_port,
        "authentication": {
            "anonymous": {"enabled": False},
            "webhook": {"enabled": True},
            "x509": {"clientCAFile": str(client_ca)},
        },
        "authorization": {"mode": "Webhook"},
        "clusterDNS": [CLUSTER_DNS_IP],
        "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(layout.root / "resolv.conf"),
        "podLogsRootDirectory": str(layout.pod_logs_dir),
        "registerWithTaints": [TAINT],
        "maxPods": 60,
        "serializeImagePulls": False,
        "imageGCHighThresholdPercent": 100,
        "imageGCLowThresholdPercent": 99,
        "evictionHard": {
            "memory.available": "100Mi",
            "nodefs.available": "1%",
            "nodefs.inodesFree": "1%",
            "imagefs.available": "1%",
        },
        "shutdownGracePeriod": "0s",
        "logging": {"format": "text"},
    }


def kube_proxy_config(layout: NodeLayout, kubeconfig_path: Path, cluster_cidr: str) -> JSON:
    """kube-proxy in iptables mode. `maxPerCore: 0` leaves the machine's conntrack limits alone (its
    sysctls are not ours to raise)."""
    return {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
        "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig_path)},
        "mode": "iptables",
        "hostnameOverride": NODE_NAME,
        "bindAddress": NODE_IP,
        "clusterCIDR": cluster_cidr,
        "healthzBindAddress": f"127.0.0.1:{layout.proxy_healthz_port}",
        "metricsBindAddress": f"127.0.0.1:{layout.proxy_metrics_port}",
        "nodePortAddresses": [f"{NODE_IP}/32"],
        "conntrack": {"maxPerCore": 0},
        "iptables": {"localhostNodePorts": False},
    }


def corefile(layout: NodeLayout, kubeconfig_path: Path) -> str:
    """kubeadm's Corefile, bound to the node address, reading Services with its own kubeconfig."""
    upstream = " ".join(layout.upstream_dns) or "/etc/resolv.conf"
    return f""".:53 {{
    bind {NODE_IP}
    errors
    health 127.0.0.1:{layout.dns_health_port}
    ready 127.0.0.1:{layout.dns_ready_port}
    kubernetes {CLUSTER_DOMAIN} in-addr.arpa ip6.arpa {{
        kubeconfig {kubeconfig_path}
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }}
    forward . {upstream}
    cache 30
    loop
}}
"""


def resolv_conf(layout: NodeLayout) -> str:
    """What pods with dnsPolicy Default see: the machine's own resolvers."""
    return "".join(f"nameserver {ip}\n" for ip in layout.upstream_dns)


# kwok's storage stages (pv-bind, pv-delete, pvc-delete, pvc-provision) select on this expression.
KWOK_STORAGE_SELECTOR = "has(self.spec.storageClassName)"


def kwok_stages_leaving_local_path(stages: str) -> str:
    """kwok's stages, except that its storage stages leave the real node's storage class alone (the
    local-path provisioner binds those claims to directories). A kwok whose stages no longer select on
    the expression is refused: kwok and the provisioner would both bind the same claims."""
    if KWOK_STORAGE_SELECTOR not in stages:
        raise ValueError(f"kwok's stages no longer select on {KWOK_STORAGE_SELECTOR!r}: update the patch")
    return stages.replace(
        KWOK_STORAGE_SELECTOR, f"{KWOK_STORAGE_SELECTOR} && self.spec.storageClassName != '{STORAGE_CLASS}'"
    )


def as_text(obj: JSON) -> str:
    return json.dumps(obj, indent=2) + "\n"

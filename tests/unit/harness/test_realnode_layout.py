"""The real node's rendered configuration carries the settings this kind of machine needs
(/work/shared/real-node-notes.md): cgroup v1 with cgroupfs, runc with a restricted oom_score_adj, an
address nothing outside routes, a taint that keeps other pods off, and kwok leaving its volumes alone."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from tests.support.realnode_layouts import PAUSE, example_layout

from kubelocal.cluster import POD_CIDR
from kubelocal.realnode import layout, objects
from kubelocal.target import REAL_NODE_PLACEMENT

RUNC = "/usr/sbin/runc"
# kwok v0.8.0's pvc-provision stage selector, as its stages.yaml has it.
KWOK_PVC_PROVISION = """apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pvc-provision
spec:
  resourceRef:
    apiGroup: v1
    kind: PersistentVolumeClaim
  selector:
    matchExpressions:
    - cel:
        expression: >-
          has(self.spec.storageClassName)
    - cel:
        expression: >-
          !has(self.metadata.deletionTimestamp)
"""


@pytest.fixture
def node(tmp_path: Path) -> layout.NodeLayout:
    return example_layout(tmp_path)


def test_kubelet_accepts_cgroup_v1_with_cgroupfs(node: layout.NodeLayout, tmp_path: Path) -> None:
    config = layout.kubelet_config(node, tmp_path / "ca.crt")
    # v1.37 refuses cgroup v1 unless told; no systemd runs this machine; swap is not ours to turn off.
    assert config["failCgroupV1"] is False
    assert config["cgroupDriver"] == "cgroupfs"
    assert config["cgroupsPerQOS"] is True and config["enforceNodeAllocatable"] == ["pods"]
    assert config["failSwapOn"] is False
    assert config["containerRuntimeEndpoint"] == f"unix://{node.containerd_socket}"
    # Pods get the node's own resolv.conf, never a copy of a loopback resolver.
    assert Path(config["resolvConf"]).parent == node.root
    assert layout.resolv_conf(node) == "nameserver 192.0.2.53\n"


def test_kubelet_registers_tainted_on_the_node_address_with_cluster_dns(
    node: layout.NodeLayout, tmp_path: Path
) -> None:
    config = layout.kubelet_config(node, tmp_path / "ca.crt")
    assert config["registerWithTaints"] == [layout.TAINT]
    assert config["address"] == layout.NODE_IP
    assert config["clusterDNS"] == [layout.CLUSTER_DNS_IP] and config["clusterDomain"] == "cluster.local"
    assert config["authentication"]["anonymous"]["enabled"] is False


def test_containerd_runs_runc_on_cgroupfs_with_restricted_oom_score_adj(node: layout.NodeLayout) -> None:
    config = tomllib.loads(layout.containerd_config(node, RUNC))
    assert config["version"] == 3
    cri = config["plugins"]["io.containerd.cri.v1.runtime"]
    # root lacks CAP_SYS_RESOURCE: runc fails writing a lower oom_score_adj than its own without this.
    assert cri["restrict_oom_score_adj"] is True
    assert cri["containerd"]["default_runtime_name"] == "runc"
    runc = cri["containerd"]["runtimes"]["runc"]
    assert runc["runtime_type"] == "io.containerd.runc.v2"
    assert runc["options"] == {"BinaryName": RUNC, "SystemdCgroup": False}  # runc, never crun
    assert cri["cni"] == {
        "bin_dirs": [layout.CNI_BIN_DIR],
        "conf_dir": str(node.cni_conf_dir),
        "max_conf_num": 1,
    }
    images = config["plugins"]["io.containerd.cri.v1.images"]
    assert images["pinned_images"]["sandbox"] == PAUSE  # nothing is ever pulled
    assert config["grpc"]["address"] == str(node.containerd_socket)


def test_addresses_stay_inside_this_machine() -> None:
    # RFC 2544's benchmarking range: routed by nothing outside, unlike a private range.
    assert ipaddress.ip_address(layout.NODE_IP) in ipaddress.ip_network("198.18.0.0/15")
    assert ipaddress.IPv4Network(layout.POD_SUBNET).subnet_of(ipaddress.IPv4Network(POD_CIDR))
    cni: dict[str, Any] = layout.cni_config()
    bridge = cni["plugins"][0]
    assert bridge["type"] == "bridge" and bridge["ipMasq"] is False
    assert bridge["ipam"]["ranges"] == [[{"subnet": layout.POD_SUBNET}]]


def test_kube_proxy_and_coredns_serve_on_the_node_address(node: layout.NodeLayout, tmp_path: Path) -> None:
    proxy = layout.kube_proxy_config(node, tmp_path / "kube-proxy.kubeconfig", POD_CIDR)
    assert proxy["mode"] == "iptables" and proxy["hostnameOverride"] == layout.NODE_NAME
    assert proxy["bindAddress"] == layout.NODE_IP and proxy["clusterCIDR"] == POD_CIDR
    assert proxy["conntrack"] == {"maxPerCore": 0}  # the machine's conntrack sysctls are left alone
    corefile = layout.corefile(node, tmp_path / "coredns.kubeconfig")
    assert f"bind {layout.NODE_IP}\n" in corefile
    assert "kubernetes cluster.local in-addr.arpa ip6.arpa {" in corefile
    assert "forward . 192.0.2.53\n" in corefile


def test_placement_tolerates_exactly_the_taint_and_selects_the_label() -> None:
    [toleration] = cast(list[dict[str, str]], REAL_NODE_PLACEMENT["tolerations"])
    taint = layout.TAINT
    assert (toleration["key"], toleration["value"], toleration["effect"]) == (
        taint["key"],
        taint["value"],
        taint["effect"],
    )
    assert toleration["operator"] == "Equal" and taint["effect"] == "NoSchedule"
    assert REAL_NODE_PLACEMENT["nodeSelector"] == {layout.LABEL: "true"}


def test_kwok_leaves_local_path_claims_to_the_provisioner() -> None:
    [stage] = yaml.safe_load_all(layout.kwok_stages_leaving_local_path(KWOK_PVC_PROVISION))
    expressions = [e["cel"]["expression"] for e in stage["spec"]["selector"]["matchExpressions"]]
    assert expressions[0] == ("has(self.spec.storageClassName) && self.spec.storageClassName != 'local-path'")
    assert expressions[1] == "!has(self.metadata.deletionTimestamp)"  # the rest untouched


def test_kwok_stages_that_changed_their_selector_are_refused() -> None:
    with pytest.raises(ValueError, match="no longer select"):
        layout.kwok_stages_leaving_local_path(
            KWOK_PVC_PROVISION.replace("has(self.spec.storageClassName)", "true")
        )


def test_the_provisioner_writes_pods_only_in_its_own_namespace(node: layout.NodeLayout) -> None:
    """Across the cluster it reads, and writes only volumes and events (upstream's manifest): a certificate
    that could create pods anywhere would be a cluster admin in all but name."""
    manifests = objects.storage(node)
    writes = {"create", "update", "patch", "delete"}
    [cluster_role] = [m for m in manifests if m["kind"] == "ClusterRole"]
    for rule in cluster_role["rules"]:
        if writes & set(rule["verbs"]):
            assert set(rule["resources"]) <= {"persistentvolumes", "events"}, rule
    [role] = [m for m in manifests if m["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "local-path-storage"
    assert role["rules"] == [{"apiGroups": [""], "resources": ["pods"], "verbs": objects._ALL}]


def test_pods_reach_the_api_through_the_kubernetes_service_at_the_node_relay() -> None:
    endpoints = objects.apiserver_endpoints()
    assert endpoints["metadata"]["namespace"] == "default"
    # kube-proxy pairs a slice with its Service by this label and the ports by name (the Service's `https`).
    assert endpoints["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes"
    assert endpoints["ports"] == [{"name": "https", "port": layout.APISERVER_PORT_ON_NODE, "protocol": "TCP"}]
    assert endpoints["endpoints"] == [{"addresses": [layout.NODE_IP], "conditions": {"ready": True}}]
    # Not the endpoint slice controller's: it would otherwise remove a slice of a selectorless Service.
    managed_by = endpoints["metadata"]["labels"]["endpointslice.kubernetes.io/managed-by"]
    assert managed_by != "endpointslice-controller.k8s.io"

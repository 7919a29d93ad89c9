"""The local control plane is a real Kubernetes: scheduling, controllers, GC, SSA, CEL and RBAC work."""

from __future__ import annotations

import json
import os
import socket
import uuid
from typing import Any

import pytest

from kubelocal import LocalCluster
from kubelocal.process import pid_alive
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster


def _ns(cluster: KubeTarget) -> str:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    return name


def _get(cluster: KubeTarget, *args: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout))


def _labels_pod(name: str) -> dict[str, Any]:
    return {
        "metadata": {"labels": {"app": name}},
        "spec": {"containers": [{"name": "c", "image": "registry.invalid/app:1"}]},
    }


def test_deployment_pods_are_scheduled_on_kwok_nodes_and_become_ready(cluster: KubeTarget) -> None:
    ns = _ns(cluster)
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": ns},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": _labels_pod("web"),
            },
        }
    )
    eventually(
        lambda: _get(cluster, "deployment", "web", "-n", ns)["status"].get("availableReplicas", 0),
        until=lambda n: n == 2,
        what="2 available replicas",
    )
    pods = _get(cluster, "pods", "-n", ns, "-l", "app=web")["items"]
    nodes = {n["metadata"]["name"] for n in _get(cluster, "nodes")["items"]}
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] in nodes
        assert pod["status"]["phase"] == "Running"
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True"


def test_statefulset_creates_its_pvc_and_pod(cluster: KubeTarget) -> None:
    ns = _ns(cluster)
    cluster.apply(
        {
            "apiVersion": "apps/v1",
            "kind": "StatefulSet",
            "metadata": {"name": "db", "namespace": ns},
            "spec": {
                "serviceName": "db",
                "replicas": 1,
                "selector": {"matchLabels": {"app": "db"}},
                "template": _labels_pod("db"),
                "volumeClaimTemplates": [
                    {
                        "metadata": {"name": "data"},
                        "spec": {
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "1Gi"}},
                        },
                    }
                ],
            },
        }
    )
    pvc = eventually(lambda: _get(cluster, "pvc", "data-db-0", "-n", ns), what="PVC data-db-0")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "1Gi"
    eventually(
        lambda: _get(cluster, "pod", "db-0", "-n", ns)["status"].get("phase"),
        until=lambda phase: phase == "Running",
        what="pod db-0 Running",
    )


def _owner_and_child(cluster: KubeTarget, ns: str, name: str) -> None:
    owner = json.loads(cluster.kubectl("create", "configmap", name, "-n", ns, "-o", "json").stdout)
    ref = {"apiVersion": "v1", "kind": "ConfigMap", "name": name, "uid": owner["metadata"]["uid"]}
    cluster.apply(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": f"{name}-child", "namespace": ns, "ownerReferences": [ref]},
            "data": {"k": "v"},
        }
    )


def test_garbage_collector_deletes_dependents_and_orphan_keeps_them(cluster: KubeTarget) -> None:
    ns = _ns(cluster)
    _owner_and_child(cluster, ns, "cascade")
    _owner_and_child(cluster, ns, "orphan")
    cluster.kubectl("delete", "configmap", "cascade", "-n", ns, "--cascade=background")
    cluster.kubectl("delete", "configmap", "orphan", "-n", ns, "--cascade=orphan")
    eventually(
        lambda: cluster.kubectl("get", "configmap", "cascade-child", "-n", ns, check=False).returncode,
        until=lambda rc: rc != 0,
        what="cascade-child garbage-collected",
    )
    child = eventually(
        lambda: _get(cluster, "configmap", "orphan-child", "-n", ns),
        until=lambda cm: not cm["metadata"].get("ownerReferences"),
        what="orphan-child kept with its owner reference removed",
    )
    assert child["data"] == {"k": "v"}


def test_server_side_apply_conflict_between_managers_and_force(cluster: KubeTarget) -> None:
    ns = _ns(cluster)
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "shared", "namespace": ns}}
    doc = json.dumps({**cm, "data": {"owner": "alice"}})
    cluster.kubectl("apply", "--server-side", "--field-manager=alice", "-f", "-", input=doc)
    doc_b = json.dumps({**cm, "data": {"owner": "bob"}})
    conflict = cluster.kubectl(
        "apply", "--server-side", "--field-manager=bob", "-f", "-", input=doc_b, check=False
    )
    assert conflict.returncode != 0
    assert "conflict" in conflict.stderr.lower() and "alice" in conflict.stderr
    cluster.kubectl(
        "apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", "-", input=doc_b
    )
    got = _get(cluster, "configmap", "shared", "-n", ns, "--show-managed-fields")
    assert got["data"]["owner"] == "bob"
    managers = {m["manager"] for m in got["metadata"]["managedFields"] if "f:data" in m.get("fieldsV1", {})}
    assert managers == {"bob"}


def test_crd_cel_rule_rejects_invalid_object_with_its_message(cluster: KubeTarget) -> None:
    group = f"g{uuid.uuid4().hex[:6]}.example.com"
    crd = {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"widgets.{group}"},
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {"min": {"type": "integer"}, "max": {"type": "integer"}},
                                    "x-kubernetes-validations": [
                                        {
                                            "rule": "self.max >= self.min",
                                            "message": "max must be at least min",
                                        }
                                    ],
                                }
                            },
                        }
                    },
                }
            ],
        },
    }
    cluster.apply(crd)
    cluster.wait_established([f"widgets.{group}"])
    ns = _ns(cluster)
    bad = {
        "apiVersion": f"{group}/v1",
        "kind": "Widget",
        "metadata": {"name": "w", "namespace": ns},
        "spec": {"min": 5, "max": 1},
    }
    result = eventually(
        lambda: cluster.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(bad), check=False),
        until=lambda r: "no matches for kind" not in r.stderr,
        what="the new kind to be served",
    )
    assert result.returncode != 0
    assert "max must be at least min" in result.stderr
    good = {**bad, "spec": {"min": 1, "max": 5}}
    cluster.apply(good)
    cluster.kubectl("delete", "crd", f"widgets.{group}")


def test_service_account_token_is_limited_by_its_role(cluster: KubeTarget) -> None:
    ns = _ns(cluster)
    cluster.kubectl("create", "serviceaccount", "reader", "-n", ns)
    cluster.kubectl("create", "role", "cm-reader", "-n", ns, "--verb=get,list", "--resource=configmaps")
    cluster.kubectl(
        "create", "rolebinding", "reader", "-n", ns, "--role=cm-reader", f"--serviceaccount={ns}:reader"
    )
    kubeconfig = cluster.mint_kubeconfig(ns, "reader")
    as_reader = KubeTarget(kubeconfig)
    try:
        assert as_reader.kubectl("get", "configmaps", "-n", ns).returncode == 0
        denied = as_reader.kubectl("get", "secrets", "-n", ns, check=False)
        assert denied.returncode != 0
        assert "forbidden" in denied.stderr.lower()
        assert f"system:serviceaccount:{ns}:reader" in denied.stderr
        other = as_reader.kubectl("create", "configmap", "x", "-n", ns, check=False)
        assert "forbidden" in other.stderr.lower()
    finally:
        as_reader.close()


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


@pytest.mark.skipif(
    bool(os.environ.get("WEBSTACK_KUBECONFIG")), reason="measures the local control plane only"
)
def test_harness_start_figures_and_no_process_left_behind() -> None:
    """A second, private control plane: started, measured, stopped; nothing of it may remain."""
    local = LocalCluster(nodes=1)
    with local:
        pids = local.pids()
        ports = [int(local.server_url.rsplit(":", 1)[1])]
        rss = local.rss_bytes()
        version = local.kubectl("version", "-o", "json").stdout
        assert json.loads(version)["serverVersion"]["gitVersion"] == local.binaries.kubernetes_version
        builds = {
            p.parent.name: int(p.read_text())
            for p in local.binaries.kubernetes_dir.parent.glob("*/.build-seconds")
        }
        print(
            "\n[figures] cold build: "
            + (", ".join(f"{k} {v / 60:.0f} min" for k, v in sorted(builds.items())) or "not recorded")
            + f"; warm start to a Ready node: {local.startup_seconds:.1f}s; "
            f"control-plane RSS at rest: {sum(rss.values()) / 2**20:.0f} MiB "
            + ", ".join(f"{k}={v / 2**20:.0f}MiB" for k, v in rss.items())
        )
        workdir = local.workdir
    assert len(pids) == 5  # etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok
    for pid in pids:
        eventually(
            lambda pid=pid: not pid_alive(pid),  # type: ignore[misc]
            timeout=10,
            what=f"pid {pid} gone",
        )
    assert all(_port_free(p) for p in ports)
    assert workdir is not None and not workdir.exists()

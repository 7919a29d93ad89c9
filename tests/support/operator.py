"""Helpers for operator tests: CRD install, WebStack status polling, Events, and the views of an operator
replica that leader-election tests read (a process here, a pod in a cluster)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from kubelocal.audit_log import OPERATOR_NAMESPACE
from kubelocal.cluster import LocalCluster
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localdemo.operator_install import METRICS_PORT
from localdemo.operator_install import POD_LABEL as OPERATOR_POD_LABEL
from localservices import OperatorProcess, operator_command, parse_metric
from webstack_operator.kube.lease import LeaseTiming

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
SAMPLES = ROOT / "deploy" / "samples"

TIMING = LeaseTiming()
# A standby sees the leader's last renewal up to one retry period late, then takes over at its first look
# (one every retry period) after the lease duration has passed on its own clock: at most duration + 2 retry
# periods after that renewal (19 s), and one second for request times on a loaded 2-core machine.
TAKEOVER_WITHIN = TIMING.duration + 2 * TIMING.retry + 1.0
RELEASED_TAKEOVER_WITHIN = 5.0  # one standby look (2 s) plus a request on a busy machine
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# deploy/operator/deployment.yaml: the pods' label, and the ports its args give /healthz and /metrics.
LIVENESS_PORT = 8080

__all__ = [
    "CRD_DIR",
    "RELEASED_TAKEOVER_WITHIN",
    "SAMPLES",
    "TAKEOVER_WITHIN",
    "WRITES",
    "OperatorPod",
    "OperatorProcess",
    "bare_cluster",
    "condition",
    "dry_run_apply",
    "events",
    "get_json",
    "install_webstack_crd",
    "operator_command",
    "operator_pods",
    "read_health",
    "scratch_namespace",
    "serving_pods",
    "tag_lab_image",
    "wait_phase",
    "webstack_doc",
]


def install_webstack_crd(cluster: KubeTarget) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    cluster.wait_established(["webstacks.webstack.dev"])


@contextmanager
def scratch_namespace(cluster: KubeTarget, prefix: str) -> Iterator[str]:
    """A namespace of a fresh name for the block, deleted (without waiting) after it."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def webstack_doc(namespace: str, spec: dict[str, Any], name: str = "shop") -> dict[str, Any]:
    """A WebStack object as a user writes it."""
    return {
        "apiVersion": "webstack.dev/v1alpha1",
        "kind": "WebStack",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def dry_run_apply(cluster: KubeTarget, obj: dict[str, Any]) -> tuple[int, str]:
    """Server-side apply with server-side dry-run: every admission step runs, nothing is stored. Returns
    kubectl's exit code and what it said on stderr (the apiserver's refusal)."""
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=test",
        "-f",
        "-",
        input=json.dumps(obj),
        check=False,
    )
    return result.returncode, result.stderr


def get_json(cluster: KubeTarget, *args: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout))


def wait_phase(
    cluster: KubeTarget, ns: str, name: str, phase: str = "Ready", timeout: float = 90
) -> dict[str, Any]:
    return eventually(
        lambda: get_json(cluster, "webstack", name, "-n", ns),
        until=lambda ws: (
            (ws.get("status") or {}).get("phase") == phase
            and (ws.get("status") or {}).get("observedGeneration") == ws["metadata"]["generation"]
        ),
        timeout=timeout,
        what=f"WebStack {ns}/{name} phase {phase}",
    )


def condition(ws: dict[str, Any], ctype: str) -> dict[str, Any]:
    for c in (ws.get("status") or {}).get("conditions") or []:
        if c["type"] == ctype:
            return dict(c)
    raise AssertionError(f"no condition {ctype} in {ws.get('status')}")


def events(cluster: KubeTarget, ns: str, name: str) -> list[dict[str, Any]]:
    out = get_json(
        cluster,
        "events",
        "-n",
        ns,
        "--field-selector",
        f"involvedObject.name={name},involvedObject.kind=WebStack",
    )
    return list(out["items"])


def operators_on(kubeconfig: Path) -> list[int]:
    """Pids of `webstack-operator run` processes using this kubeconfig (their KUBECONFIG variable)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"run" not in argv or not any(a.endswith(b"webstack-operator") for a in argv):
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if f"KUBECONFIG={kubeconfig}".encode() in environ:
            found.append(int(entry.name))
    return found


@contextmanager
def bare_cluster(workdir: Path) -> Iterator[tuple[KubeTarget, LocalCluster, OperatorProcess]]:
    """A private control plane with only the WebStack CRD (no Argo Rollouts, Prometheus Operator or
    Velero), a namespace `team`, and an operator on it: for what the shared cluster cannot show."""
    with LocalCluster(nodes=1) as local:
        cluster = KubeTarget(local.kubeconfig_path, local=local)
        install_webstack_crd(cluster)
        cluster.kubectl("create", "namespace", "team")
        proc = OperatorProcess(local.kubeconfig_path, workdir).start()
        try:
            yield cluster, local, proc
        finally:
            proc.stop()
            cluster.close()


def read_health(url: str) -> dict[str, Any]:
    """An operator's /healthz body: `status` and `role` (leader, standby), whatever the status code."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return dict(json.load(r))
    except urllib.error.HTTPError as e:  # 503: unhealthy, with the same body
        return dict(json.load(e))


@dataclass(frozen=True)
class OperatorPod:
    """One operator pod of the Deployment, read over its pod IP as the kubelet's probes and a Prometheus
    would (the host routes the real node's pod range); `template_hash` tells its ReplicaSet, so a roll's
    old pods from its new ones. Its Lease identity starts with its name (HOSTNAME in a pod)."""

    name: str
    ip: str
    template_hash: str
    # On a cluster whose pod IPs the host cannot reach (kind, EKS): read through the API server's pod proxy.
    via: KubeTarget | None = None
    namespace: str = OPERATOR_NAMESPACE

    def _get(self, port: int, path: str) -> str:
        if self.via is not None:
            raw = f"/api/v1/namespaces/{self.namespace}/pods/{self.name}:{port}/proxy{path}"
            return self.via.kubectl("get", "--raw", raw).stdout
        with urllib.request.urlopen(f"http://{self.ip}:{port}{path}", timeout=5) as r:
            return str(r.read().decode())

    def health(self) -> dict[str, Any]:
        if self.via is not None:
            return dict(json.loads(self._get(LIVENESS_PORT, "/healthz")))
        return read_health(f"http://{self.ip}:{LIVENESS_PORT}/healthz")

    def role(self) -> str:
        return str(self.health()["role"])

    def metric(self, name: str, **labels: str) -> float:
        return parse_metric(self._get(METRICS_PORT, "/metrics"), name, **labels)

    def leads(self) -> bool:
        return self.metric("webstack_leader") == 1

    def writes(self) -> dict[str, float]:
        """Its own client's writes by method; kopf's are not counted (the audit log has them)."""
        return {m: self.metric("webstack_api_requests_total", method=m) for m in WRITES}

    def holds(self, lease: dict[str, Any]) -> bool:
        return str(lease["spec"].get("holderIdentity") or "").startswith(f"{self.name}_")


def operator_pods(cluster: KubeTarget, namespace: str = OPERATOR_NAMESPACE) -> list[OperatorPod]:
    """The operator Deployment's pods that serve now (`serving_pods`), read over their IPs in the lab and
    through the API server elsewhere."""
    pods = serving_pods(get_json(cluster, "pods", "-n", namespace, "-l", OPERATOR_POD_LABEL)["items"])
    if cluster.local is None:
        pods = [replace(p, via=cluster, namespace=namespace) for p in pods]
    return pods


def serving_pods(pods: list[dict[str, Any]]) -> list[OperatorPod]:
    """Of these pods, the Ready ones with an IP that are not terminating, oldest first: a pod being
    deleted may still answer, but its Deployment no longer counts it."""

    def serving(pod: dict[str, Any]) -> bool:
        status = pod.get("status") or {}
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions") or [])
        return ready and bool(status.get("podIP")) and not pod["metadata"].get("deletionTimestamp")

    return [
        OperatorPod(
            name=pod["metadata"]["name"],
            ip=pod["status"]["podIP"],
            template_hash=(pod["metadata"].get("labels") or {}).get("pod-template-hash", ""),
        )
        for pod in sorted(pods, key=lambda p: (p["metadata"]["creationTimestamp"], p["metadata"]["name"]))
        if serving(pod)
    ]


def tag_lab_image(cluster: KubeTarget, source: str, target: str) -> None:
    """Another tag of an image on the lab's real node (kubelocal.realnode.RealNode.tag_image), for a roll
    to a new tag; skips on any other cluster, where the tag is pushed or `kind load`ed instead."""
    node = cluster.local.real_node if cluster.local is not None else None
    if node is None:
        pytest.skip("tagging an image needs the lab's real node (its containerd); none in this session")
    node.tag_image(source, target)

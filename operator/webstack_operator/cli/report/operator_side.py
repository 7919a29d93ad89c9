"""What `report` reads of the operator and the cluster: its pods' recent logs and /metrics, and versions.

All through the API server, with the caller's credentials: logs from the pod log endpoint (`pods/log`),
metrics through the pod proxy (`pods/proxy`), so a maintainer's bundle needs no route to the pods. An
operator run outside the cluster (a developer's process) has no pods: the bundle says so.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
from dataclasses import dataclass

from webstack_operator.cli.report.bundle import Bundle
from webstack_operator.cli.report.collect import Stack, why
from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.kube.jsondata import JSON

OPERATOR_NAMESPACE = "webstack-system"  # deploy/operator's
OPERATOR_SELECTOR = "app.kubernetes.io/name=webstack-operator"  # its pods' label (deployment.yaml)
METRICS_PORT_NAME = "metrics"
DEFAULT_METRICS_PORT = 8081  # deploy/operator's --metrics-port
LOG_LINES = 2000
CRD_NAME = "webstacks.webstack.dev"


@dataclass(frozen=True)
class OperatorPlace:
    """Where the operator runs and how much of its logs to take."""

    namespace: str = OPERATOR_NAMESPACE
    selector: str = OPERATOR_SELECTOR
    log_lines: int = LOG_LINES


def metrics_port(pod: JSON) -> int:
    """The container port named `metrics` (the pod proxy wants a number), else deploy/operator's."""
    for container in (pod.get("spec") or {}).get("containers") or []:
        for port in container.get("ports") or []:
            if port.get("name") == METRICS_PORT_NAME and port.get("containerPort"):
                return int(port["containerPort"])
    return DEFAULT_METRICS_PORT


async def operator_pods(client: KubeClient, bundle: Bundle, place: OperatorPlace) -> list[JSON]:
    try:
        listed = await client.list_all(
            f"/api/v1/namespaces/{place.namespace}/pods", {"labelSelector": place.selector}
        )
    except ApiError as e:
        bundle.refuse(f"operator pods in {place.namespace}", why(e))
        return []
    pods: list[JSON] = listed.get("items") or []
    if not pods:
        bundle.refuse(
            f"operator pods in {place.namespace}",
            f"none match {place.selector} (an operator run outside the cluster has none; "
            "--operator-namespace names another namespace)",
        )
    return sorted(pods, key=lambda p: str(p["metadata"]["name"]))


async def add_logs(client: KubeClient, bundle: Bundle, pod: JSON, place: OperatorPlace) -> None:
    """Each container's last lines, and the previous run's when the container restarted (a crash's)."""
    name = pod["metadata"]["name"]
    base = f"/api/v1/namespaces/{place.namespace}/pods/{name}/log"
    restarted = {
        c.get("name"): int(c.get("restartCount") or 0) > 0
        for c in (pod.get("status") or {}).get("containerStatuses") or []
    }
    for container in (pod.get("spec") or {}).get("containers") or []:
        runs = [("", "false"), ("-previous", "true")] if restarted.get(container["name"]) else [("", "false")]
        for suffix, previous in runs:
            params = {
                "container": container["name"],
                "tailLines": str(place.log_lines),
                "timestamps": "true",
                "previous": previous,
            }
            what = f"logs of pod {place.namespace}/{name} container {container['name']}{suffix}"
            try:
                text = await client.get_text(base, params)
            except ApiError as e:
                bundle.refuse(what, why(e))
                continue
            bundle.add_text(f"operator/logs/{name}-{container['name']}{suffix}.log", text)


async def add_metrics(client: KubeClient, bundle: Bundle, pod: JSON, place: OperatorPlace) -> None:
    name = pod["metadata"]["name"]
    path = f"/api/v1/namespaces/{place.namespace}/pods/{name}:{metrics_port(pod)}/proxy/metrics"
    try:
        bundle.add_text(f"operator/metrics/{name}.txt", await client.get_text(path))
    except ApiError as e:
        bundle.refuse(f"/metrics of pod {place.namespace}/{name}", why(e))


async def add_operator(client: KubeClient, bundle: Bundle, place: OperatorPlace) -> list[JSON]:
    """The operator pods' logs and metrics; the pods, for versions.yaml's images."""
    pods = await operator_pods(client, bundle, place)
    await asyncio.gather(
        *(add_logs(client, bundle, p, place) for p in pods),
        *(add_metrics(client, bundle, p, place) for p in pods),
    )
    return pods


def plugin_version() -> str:
    try:
        return importlib.metadata.version("webstack-operator")
    except importlib.metadata.PackageNotFoundError:
        return "unknown (not installed as a distribution)"


def operator_images(pods: list[JSON]) -> list[JSON]:
    """Each operator pod's images: as asked (spec) and as run (the status's image ID, a digest)."""
    running = {
        (p["metadata"]["name"], c.get("name")): c.get("imageID") or ""
        for p in pods
        for c in (p.get("status") or {}).get("containerStatuses") or []
    }
    return [
        {
            "pod": p["metadata"]["name"],
            "container": c["name"],
            "image": c.get("image"),
            "imageID": running.get((p["metadata"]["name"], c["name"]), ""),
        }
        for p in pods
        for c in (p.get("spec") or {}).get("containers") or []
    ]


async def add_versions(client: KubeClient, bundle: Bundle, stack: Stack, pods: list[JSON]) -> None:
    versions: JSON = {
        "plugin": {"name": "kubectl-webstack", "version": plugin_version()},
        "webstack": {"apiVersion": stack.webstack.get("apiVersion")},
        "operator": {"images": operator_images(pods)},
    }
    try:
        server = await client.request("GET", "/version")
        versions["kubernetes"] = {k: server.get(k) for k in ("gitVersion", "platform", "goVersion")}
    except ApiError as e:
        bundle.refuse("the Kubernetes server version (/version)", why(e))
    path = f"/apis/apiextensions.k8s.io/v1/customresourcedefinitions/{CRD_NAME}"
    try:
        crd = await client.request("GET", path)
        versions["crd"] = {
            "name": CRD_NAME,
            "generation": crd["metadata"].get("generation"),
            "versions": [
                {"name": v.get("name"), "served": v.get("served"), "storage": v.get("storage")}
                for v in crd.get("spec", {}).get("versions") or []
            ],
            "storedVersions": (crd.get("status") or {}).get("storedVersions"),
        }
    except ApiError as e:
        bundle.refuse(f"CustomResourceDefinition {CRD_NAME}", why(e))
    bundle.add_yaml("versions.yaml", versions)

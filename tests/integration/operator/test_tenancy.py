"""Another namespace cannot steer a stack: objects in `zzz` named like `prod/shop`'s children and labelled
for it (`webstack.dev/stack-namespace=prod` and every other label the operator puts) do not join it. They
change neither its Services' selectors nor its status, and the operator never deletes them.

A stack's children are the objects in its own namespace its UID controls (and, for the Velero Schedule,
the one object in Velero's namespace carrying its UID label); labels are only what the watches filter on.
"""

from __future__ import annotations

import subprocess
import threading
import uuid
from collections.abc import Iterator
from typing import IO, Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, events, get_json, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
CANARY: dict[str, Any] = {
    "backend": {
        "image": IMAGE,
        "delivery": {"strategy": "Canary", "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}]},
    },
    "monitoring": {"enabled": False},
}
BOGUS_HASH = "bogus0hash"
EVIL_IMAGE = "registry.example.com/evil:1"
HASH_KEY = "rollouts-pod-template-hash"


@pytest.fixture
def other_namespace(platform: KubeTarget) -> Iterator[str]:
    name = f"zzz-{uuid.uuid4().hex[:8]}"
    platform.kubectl("create", "namespace", name)
    yield name
    platform.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _labels(prod: str, component: str) -> dict[str, str]:
    """Every label the operator puts on a child of `prod/shop`, and the one naming its namespace."""
    return {
        "app.kubernetes.io/name": "users-api",
        "app.kubernetes.io/instance": "shop",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "webstack",
        "app.kubernetes.io/managed-by": "webstack-operator",
        "webstack.dev/stack-namespace": prod,
    }


def _lookalikes(prod: str, zzz: str) -> list[dict[str, Any]]:
    """A tenant's objects in `zzz`: a `shop-backend` Service with a bogus Argo hash, a Ready `shop-frontend`
    Deployment running another image and replica count, and a ConfigMap prod's stack does not render."""
    meta = {"namespace": zzz}
    backend_selector = {
        k: v for k, v in _labels(prod, "backend").items() if "part-of" in k or "instance" in k
    }
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {**meta, "name": "shop-backend", "labels": _labels(prod, "backend")},
            "spec": {
                "selector": {**backend_selector, HASH_KEY: BOGUS_HASH},
                "ports": [{"name": "http", "port": 80, "targetPort": 8080}],
            },
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**meta, "name": "shop-frontend", "labels": _labels(prod, "frontend")},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"tenant": "zzz-frontend"}},
                "template": {
                    "metadata": {"labels": {"tenant": "zzz-frontend"}},
                    "spec": {"containers": [{"name": "web", "image": EVIL_IMAGE}]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "name": "shop-extra", "labels": _labels(prod, "frontend")},
            "data": {"a": "b"},
        },
    ]


def _exists(cluster: KubeTarget, kind: str, name: str, ns: str) -> bool:
    return cluster.kubectl("get", kind, name, "-n", ns, check=False).returncode == 0


def _watch_selector(
    cluster: KubeTarget, ns: str
) -> tuple[subprocess.Popen[str], threading.Thread, list[str]]:
    """Every selector the stable Service is given, as the watch reports it (a poll could miss one Argo
    Rollouts corrects at once)."""
    watch = subprocess.Popen(
        [
            str(cluster.kubectl_path),
            f"--kubeconfig={cluster.kubeconfig_path}",
            "get",
            "service",
            "shop-backend",
            "-n",
            ns,
            "--watch",
            "-o",
            'jsonpath={.metadata.resourceVersion} {.spec.selector}{"\\n"}',
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert watch.stdout is not None
    printed: list[str] = []
    reader = threading.Thread(target=_collect, args=(watch.stdout, printed), daemon=True)
    reader.start()
    eventually(lambda: list(printed), until=bool, timeout=30, what="the stable Service's watch started")
    return watch, reader, printed


def _collect(stream: IO[str], into: list[str]) -> None:
    into.extend(iter(stream.readline, ""))


def test_another_namespaces_lookalikes_never_join_a_stack(
    platform: KubeTarget, operator: OperatorProcess, namespace: str, other_namespace: str
) -> None:
    prod, zzz = namespace, other_namespace
    apply_webstack(platform, prod, "shop", CANARY)
    wait_phase(platform, prod, "shop", timeout=120)
    frontend = get_json(platform, "deployment", "shop-frontend", "-n", prod)
    real_image = frontend["spec"]["template"]["spec"]["containers"][0]["image"]
    watch, reader, selectors = _watch_selector(platform, prod)
    try:
        platform.apply({"apiVersion": "v1", "kind": "List", "items": _lookalikes(prod, zzz)})
        fake = eventually(
            lambda: get_json(
                platform, "deployments", "-n", zzz, "--field-selector", "metadata.name=shop-frontend"
            ),
            until=lambda found: (
                not found["items"] or found["items"][0].get("status", {}).get("readyReplicas") == 3
            ),
            timeout=60,
            what="the look-alike Deployment Ready (or deleted)",
        )
        assert fake["items"], "the operator deleted the tenant's Deployment in another namespace"

        # A reconcile of prod/shop with the look-alikes in the operator's caches: a spec edit it must observe.
        apply_webstack(platform, prod, "shop", {**CANARY, "ingress": {"sourceCidrs": ["10.9.0.0/16"]}})
        ws = wait_phase(platform, prod, "shop", timeout=60)
    finally:
        watch.terminate()
        watch.wait(timeout=10)
        reader.join(timeout=10)
        assert watch.stdout is not None
        watch.stdout.close()

    for obj in _lookalikes(prod, zzz):
        assert _exists(platform, obj["kind"], obj["metadata"]["name"], zzz), f"{obj['kind']} deleted in {zzz}"
        live = get_json(platform, obj["kind"], obj["metadata"]["name"], "-n", zzz)
        managers = {f.get("manager") for f in live["metadata"].get("managedFields") or []}
        assert "webstack-operator" not in managers, (obj["kind"], managers)
    pruned = [e["message"] for e in events(platform, prod, "shop") if e["reason"] == "Pruned"]
    assert pruned == []
    assert selectors and not [s for s in selectors if BOGUS_HASH in s], selectors
    stable = get_json(platform, "service", "shop-backend", "-n", prod)["spec"]["selector"]
    assert stable.get(HASH_KEY) != BOGUS_HASH, stable
    shown = ws["status"]["components"]["frontend"]
    assert shown.get("image") == real_image and shown["desired"] == frontend["spec"]["replicas"], shown

"""The operator's side of a report against a fake API server: each pod's logs (the previous run's too after
a restart) and /metrics through the API, a refusal recorded where the credentials fall short, versions."""

from __future__ import annotations

from typing import Any

from tests.support.fake_apiserver import FakeApi, status

from webstack_operator.cli.report.bundle import Bundle
from webstack_operator.cli.report.collect import Stack
from webstack_operator.cli.report.operator_side import (
    OperatorPlace,
    add_operator,
    add_versions,
    metrics_port,
    operator_images,
)
from webstack_operator.cli.report.redact import Redactor
from webstack_operator.kube.client import KubeClient

PODS = "/api/v1/namespaces/webstack-system/pods"


def pod(name: str, restarts: int = 0, metrics: int | None = 9090) -> dict[str, Any]:
    ports = [{"name": "healthz", "containerPort": 8080}]
    if metrics is not None:
        ports.append({"name": "metrics", "containerPort": metrics})
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "webstack-operator"}},
        "spec": {"containers": [{"name": "operator", "image": "webstack-operator:0.1.0", "ports": ports}]},
        "status": {
            "containerStatuses": [
                {"name": "operator", "restartCount": restarts, "imageID": "sha256:abc"},
            ]
        },
    }


def new_bundle() -> Bundle:
    return Bundle("team", "shop", "2026-12-06T20:00:00Z", Redactor())


async def test_logs_and_metrics_come_through_the_api_and_a_refusal_is_recorded(
    api: FakeApi, client: KubeClient
) -> None:
    api.create(PODS, pod("op-a", restarts=1))
    api.create(PODS, pod("op-b"))
    await client.discover()
    api.answer(
        "GET", f"{PODS}/op-a/log", 200, "2026-12-06T20:00:00Z now\n", times=2, content_type="text/plain"
    )
    forbidden = status(403, "Forbidden", 'pods "op-b" is forbidden: cannot get resource "pods/log"')
    api.answer("GET", f"{PODS}/op-b/log", 403, forbidden)
    api.answer(
        "GET", f"{PODS}/op-a:9090/proxy/metrics", 200, "webstack_leader 1\n", content_type="text/plain"
    )
    api.answer(
        "GET", f"{PODS}/op-b:9090/proxy/metrics", 200, "webstack_leader 0\n", content_type="text/plain"
    )
    bundle = new_bundle()

    pods = await add_operator(client, bundle, OperatorPlace(log_lines=50))

    assert [p["metadata"]["name"] for p in pods] == ["op-a", "op-b"]
    assert set(bundle.files) == {
        "operator/logs/op-a-operator.log",
        "operator/logs/op-a-operator-previous.log",
        "operator/metrics/op-a.txt",
        "operator/metrics/op-b.txt",
    }
    assert bundle.files["operator/metrics/op-a.txt"] == "webstack_leader 1\n"
    asked = [r.query for r in api.requests_to(f"{PODS}/op-a/log")]
    assert sorted(q["previous"] for q in asked) == ["false", "true"]
    assert {(q["tailLines"], q["container"], q["timestamps"]) for q in asked} == {("50", "operator", "true")}
    [refusal] = bundle.refusals
    assert refusal.startswith("logs of pod webstack-system/op-b container operator: 403 Forbidden")


async def test_no_operator_pods_or_no_right_to_list_them_is_said_not_fatal(
    api: FakeApi, client: KubeClient
) -> None:
    await client.discover()
    bundle = new_bundle()
    assert await add_operator(client, bundle, OperatorPlace()) == []
    assert bundle.refusals == [
        "operator pods in webstack-system: none match app.kubernetes.io/name=webstack-operator (an operator "
        "run outside the cluster has none; --operator-namespace names another namespace)"
    ]
    api.answer("GET", PODS, 403, status(403, "Forbidden", "cannot list pods"))
    refused = new_bundle()
    assert await add_operator(client, refused, OperatorPlace()) == []
    assert refused.refusals == ["operator pods in webstack-system: 403 Forbidden: cannot list pods"]


async def test_versions_say_what_they_could_read(api: FakeApi, client: KubeClient) -> None:
    api.answer("GET", "/version", 200, {"gitVersion": "v1.37.2", "platform": "linux/amd64"})
    ws = {"apiVersion": "webstack.dev/v1alpha1", "kind": "WebStack", "metadata": {"name": "shop"}}
    bundle = new_bundle()
    await add_versions(client, bundle, Stack(ws, [], [], []), [pod("op-a")])
    text = bundle.files["versions.yaml"]
    assert "gitVersion: v1.37.2" in text
    assert "image: webstack-operator:0.1.0" in text and "imageID: sha256:abc" in text
    assert "name: kubectl-webstack" in text
    # The fake serves no CRDs: a refusal, with the API server's words.
    assert [r.split(":")[0] for r in bundle.refusals] == ["CustomResourceDefinition webstacks.webstack.dev"]


def test_the_metrics_port_is_the_named_one_else_the_installs() -> None:
    assert metrics_port(pod("a", metrics=9090)) == 9090
    assert metrics_port(pod("a", metrics=None)) == 8081


def test_images_as_asked_and_as_run() -> None:
    assert operator_images([pod("op-a")]) == [
        {"pod": "op-a", "container": "operator", "image": "webstack-operator:0.1.0", "imageID": "sha256:abc"}
    ]

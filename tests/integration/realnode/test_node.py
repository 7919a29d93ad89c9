"""The real node beside the kwok nodes: Ready on containerd, labelled and tainted, so only pods that ask
for it land there; its pods reach the API as in any cluster, on their ServiceAccount's token."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.hardening_policy import RESTRICTED_CONTAINER

from kubelocal.realnode.layout import LABEL, TAINT
from kubelocal.target import REAL_NODE_PLACEMENT, KubeTarget
from kubelocal.wait import eventually
from labimages import reference_of


@pytest.fixture(scope="module")
def namespace(cluster: KubeTarget) -> Iterator[str]:
    name = f"realnode-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    # kwok runs it without pulling anything; the scheduler alone decides where it goes.
    container = {"name": "main", "image": "webstack.lab/pause:never-pulled", "imagePullPolicy": "Never"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {"containers": [container], **spec},
    }


def _get(cluster: KubeTarget, namespace: str, kind: str, name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(
        cluster.kubectl("-n", namespace, "get", kind, name, "-o", "json").stdout
    )
    return result


def test_real_node_is_ready_on_containerd_labelled_and_tainted(cluster: KubeTarget, real_node: str) -> None:
    node = json.loads(cluster.kubectl("get", "node", real_node, "-o", "json").stdout)
    conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert conditions["Ready"] == "True", conditions
    assert node["status"]["nodeInfo"]["containerRuntimeVersion"].startswith("containerd://"), node["status"][
        "nodeInfo"
    ]
    assert node["metadata"]["labels"].get(LABEL) == "true"
    assert TAINT in node["spec"].get("taints", [])
    # kwok's nodes say they are kwok's; the real node does not.
    assert "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})


def test_pod_without_the_toleration_lands_on_kwok(
    cluster: KubeTarget, namespace: str, real_node: str
) -> None:
    cluster.apply(_pod("plain"), "-n", namespace)
    pod = eventually(
        lambda: _get(cluster, namespace, "pod", "plain"),
        until=lambda p: bool(p["spec"].get("nodeName")),
        timeout=60,
        what="pod plain scheduled",
    )
    assert pod["spec"]["nodeName"] != real_node
    node = json.loads(cluster.kubectl("get", "node", pod["spec"]["nodeName"], "-o", "json").stdout)
    assert node["metadata"]["annotations"].get("kwok.x-k8s.io/node") == "fake"


def test_pod_asking_for_the_real_node_without_the_toleration_stays_unscheduled(
    cluster: KubeTarget, namespace: str, real_node: str
) -> None:
    cluster.apply(_pod("untolerated", nodeSelector={LABEL: "true"}), "-n", namespace)

    def scheduled_condition() -> dict[str, Any]:
        conditions = _get(cluster, namespace, "pod", "untolerated").get("status", {}).get("conditions", [])
        return next((c for c in conditions if c["type"] == "PodScheduled"), {})

    condition = eventually(
        scheduled_condition,
        until=lambda c: c.get("status") == "False" and c.get("reason") == "Unschedulable",
        timeout=60,
        what="pod untolerated refused by the scheduler",
    )
    # The one node with the label is refused for its taint (the kwok nodes lack the label).
    assert "1 node(s) had untolerated taint" in condition["message"], condition
    assert not _get(cluster, namespace, "pod", "untolerated")["spec"].get("nodeName")


# The in-cluster client's path: the mounted token and CA, the Service's name through cluster DNS, a POST
# every authenticated user may make. It prints the review, never the token.
_WHO_AM_I = """
import json, ssl, urllib.request
sa = "/var/run/secrets/kubernetes.io/serviceaccount"
context = ssl.create_default_context(cafile=f"{sa}/ca.crt")
request = urllib.request.Request(
    "https://kubernetes.default.svc/apis/authentication.k8s.io/v1/selfsubjectreviews",
    data=json.dumps({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"}).encode(),
    headers={"Authorization": "Bearer " + open(f"{sa}/token").read(), "Content-Type": "application/json"},
    method="POST",
)
print(urllib.request.urlopen(request, context=context, timeout=20).read().decode())
"""


def test_pod_reaches_the_api_on_its_service_account_token(
    cluster: KubeTarget, namespace: str, real_node: str
) -> None:
    account = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "api-client"}}
    cluster.apply(account, "-n", namespace)
    container = {
        "name": "main",
        "image": reference_of("webstack.lab/python"),
        "imagePullPolicy": "Never",
        "command": ["python3", "-c", _WHO_AM_I],
        "securityContext": RESTRICTED_CONTAINER,
    }
    pod = _pod("who-am-i", **REAL_NODE_PLACEMENT)
    pod["spec"].update(
        containers=[container],
        restartPolicy="Never",
        serviceAccountName="api-client",
        automountServiceAccountToken=True,
    )
    cluster.apply(pod, "-n", namespace)
    done = eventually(
        lambda: _get(cluster, namespace, "pod", "who-am-i"),
        until=lambda p: p.get("status", {}).get("phase") in ("Succeeded", "Failed"),
        timeout=120,
        interval=1,
        what="pod who-am-i finished",
    )
    log = cluster.kubectl("-n", namespace, "logs", "who-am-i").stdout
    assert done["spec"]["nodeName"] == real_node
    assert done["status"]["phase"] == "Succeeded", log
    user = json.loads(log)["status"]["userInfo"]
    assert user["username"] == f"system:serviceaccount:{namespace}:api-client"
    # A bound token: the apiserver knows which pod presents it (what the audit log attributes writes by).
    assert user["extra"]["authentication.kubernetes.io/pod-name"] == ["who-am-i"]

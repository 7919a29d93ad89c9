"""A stack that is not Ready says why, naming the child, on a real control plane.

The blockers are real where the control plane makes them: admission refusing pods of a missing
PriorityClass (a Deployment's ReplicaFailure, a StatefulSet's FailedCreate Event), the scheduler refusing a
pod no node fits, the PV controller leaving a claim of a missing StorageClass Pending. What only a kubelet
or a provisioner would do is kwok's, by stages in tools/python/kubelocal/kwok-stages.yaml selected by the
image name (`image-pull-fails`, `crash-loops`) or the class name (`unprovisioned...`, which kwok's own
provisioner would otherwise serve). One operator and one cluster serve every check; the stacks of a test
run side by side.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, condition, events, get_json, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
FRONTEND = "docker.io/nginxinc/nginx-unprivileged"
ROLLING: dict[str, Any] = {"image": IMAGE, "delivery": {"strategy": "RollingUpdate"}}


def _ws(cluster: KubeTarget, ns: str, name: str) -> dict[str, Any]:
    return get_json(cluster, "webstack", name, "-n", ns)


def _reason(ws: dict[str, Any], ctype: str) -> str:
    return str(condition(ws, ctype)["reason"])


def _until_reason(cluster: KubeTarget, ns: str, name: str, ctype: str, reason: str) -> dict[str, Any]:
    return eventually(
        lambda: _ws(cluster, ns, name),
        until=lambda ws: _reason(ws, ctype) == reason,
        timeout=60,
        what=f"{ns}/{name}: {ctype} reason {reason}",
    )


def _warnings(cluster: KubeTarget, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in events(cluster, ns, name) if e["reason"] == reason and e["type"] == "Warning"]


def test_a_missing_priority_class_is_named_at_once_and_its_creation_clears_it(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    priority = f"ws-test-{uuid.uuid4().hex[:8]}"
    apply_webstack(
        platform, namespace, "shop", {"backend": ROLLING, "security": {"priorityClassName": priority}}
    )

    # Before any pod could fail: the prerequisite is named, and is what keeps the stack from Ready.
    ws = _until_reason(platform, namespace, "shop", "Prerequisites", "PriorityClassNotFound")
    assert f"PriorityClass {priority}" in condition(ws, "Prerequisites")["message"]
    assert condition(ws, "Prerequisites")["status"] == "False"
    assert ws["status"]["phase"] != "Ready"
    assert ws["status"]["reason"] == "PriorityClassNotFound"
    assert ws["status"]["blocker"].startswith(
        f"prerequisites: spec.security.priorityClassName names the PriorityClass {priority}"
    )

    # Each workload's condition carries its own controller's words.
    refused = f"no PriorityClass with name {priority} was found"
    # (The frontend's Deployment: the backend's waits for its migration Job, whose pod is refused too.)
    ws = _until_reason(platform, namespace, "shop", "FrontendAvailable", "FailedCreate")  # ReplicaFailure
    assert "Deployment shop-frontend" in condition(ws, "FrontendAvailable")["message"]
    assert refused in condition(ws, "FrontendAvailable")["message"]
    ws = _until_reason(platform, namespace, "shop", "DatabaseReady", "FailedCreate")  # the Event only
    assert "StatefulSet shop-postgres" in condition(ws, "DatabaseReady")["message"]
    assert refused in condition(ws, "DatabaseReady")["message"]

    # `kubectl get ws` shows it in one column; -o wide adds the line naming the child.
    table = platform.kubectl("get", "ws", "shop", "-n", namespace).stdout
    assert "REASON" in table.splitlines()[0] and "PriorityClassNotFound" in table, table
    wide = platform.kubectl("get", "ws", "shop", "-n", namespace, "-o", "wide").stdout
    assert "BLOCKER" in wide.splitlines()[0] and f"PriorityClass {priority}" in wide, wide
    assert len(_warnings(platform, namespace, "shop", "PriorityClassNotFound")) == 1

    platform.apply(
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": priority},
            "value": 1000,
        }
    )
    try:
        ws = _until_reason(platform, namespace, "shop", "Prerequisites", "Found")
        assert condition(ws, "Prerequisites")["status"] == "True"
        ws = wait_phase(platform, namespace, "shop", timeout=150)  # the controllers retry with backoff
        assert ws["status"]["reason"] == "AllComponentsReady" and "blocker" not in ws["status"]
        assert len(_warnings(platform, namespace, "shop", "PriorityClassNotFound")) == 1  # said once
    finally:
        platform.kubectl("delete", "priorityclass", priority, "--ignore-not-found")


def test_pods_and_volumes_that_cannot_become_ready_say_why(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    missing = uuid.uuid4().hex[:8]
    stacks: dict[str, dict[str, Any]] = {
        "pull": {"backend": ROLLING, "frontend": {"image": f"{FRONTEND}-image-pull-fails:1.27-alpine"}},
        "crash": {"backend": ROLLING, "frontend": {"image": f"{FRONTEND}-crash-loops:1.27-alpine"}},
        "unfit": {
            "backend": ROLLING,
            "frontend": {
                "resources": {"requests": {"cpu": "200", "memory": "32Mi"}, "limits": {"memory": "64Mi"}}
            },
        },
        # Three prerequisites missing at once; the claim of the missing class stays Pending.
        "volume": {
            "backend": ROLLING,
            "database": {
                "storage": {"storageClassName": f"unprovisioned-{missing}"},
                "credentials": {
                    "externalSecret": {
                        "storeRef": {"kind": "ClusterSecretStore", "name": f"store-{missing}"},
                        "remoteKey": "shop/postgres",
                    }
                },
            },
            "ingress": {"enabled": True, "host": "shop.example.com", "className": f"class-{missing}"},
        },
    }
    for name, spec in stacks.items():
        apply_webstack(platform, namespace, name, spec)

    ws = _until_reason(platform, namespace, "volume", "Prerequisites", "PrerequisitesMissing")
    message = condition(ws, "Prerequisites")["message"]
    for named in (
        f"StorageClass unprovisioned-{missing}",
        f"ClusterSecretStore store-{missing}",
        f"IngressClass class-{missing}",
    ):
        assert named in message, message
    for reason in ("StorageClassNotFound", "ClusterSecretStoreNotFound", "IngressClassNotFound"):
        assert len(_warnings(platform, namespace, "volume", reason)) == 1, reason

    expected = {
        "pull": ("FrontendAvailable", "ImagePullBackOff", "container frontend is in ImagePullBackOff"),
        "crash": ("FrontendAvailable", "CrashLoopBackOff", "is in CrashLoopBackOff"),
        "unfit": ("FrontendAvailable", "Unschedulable", "Insufficient cpu"),
        "volume": (
            "DatabaseReady",
            "ClaimPending",
            "PersistentVolumeClaim data-volume-postgres-0 is Pending",
        ),
    }
    for name, (ctype, reason, says) in expected.items():
        ws = _until_reason(platform, namespace, name, ctype, reason)
        assert says in condition(ws, ctype)["message"], (name, condition(ws, ctype))
        assert ws["status"]["phase"] != "Ready", name
    # The stack-wide line: the component first, then the child's own words.
    for name in ("pull", "crash", "unfit"):
        status = _ws(platform, namespace, name)["status"]
        assert status["reason"] == expected[name][1], status
        assert status["blocker"].startswith(f"frontend: pod {name}-frontend-"), status["blocker"]
    volume = _ws(platform, namespace, "volume")["status"]
    # The missing StorageClass keeps the database from starting: the prerequisite is the root, said first.
    assert volume["reason"] == "StorageClassNotFound", volume

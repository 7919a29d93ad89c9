"""What `report` decides from what it read: which Events concern the stack, which Secrets its pods read,
and whose apply the plan repeats."""

from __future__ import annotations

from typing import Any

from webstack_operator.cli.report.collect import Stack, applied_manager, involves, secret_names_referenced


def obj(kind: str, name: str, uid: str) -> dict[str, Any]:
    return {"kind": kind, "metadata": {"name": name, "namespace": "team", "uid": uid}}


STACK = Stack(
    webstack={"apiVersion": "webstack.dev/v1alpha1", **obj("WebStack", "shop", "ws")},
    children=[obj("Deployment", "shop-backend", "d1"), obj("StatefulSet", "shop-postgres", "s1")],
    secrets=[obj("Secret", "shop-db", "sec")],
    pods=[obj("Pod", "shop-frontend-7c9-abcde", "p1")],
)


def event(kind: str, name: str, uid: str = "") -> dict[str, Any]:
    return {"involvedObject": {"kind": kind, "name": name, **({"uid": uid} if uid else {})}}


def test_events_of_the_stack_its_children_pods_and_replicasets_are_kept() -> None:
    assert involves(event("WebStack", "shop", "ws"), STACK)
    assert involves(event("Deployment", "shop-backend"), STACK)
    assert involves(event("Pod", "shop-frontend-7c9-abcde", "p1"), STACK)
    assert involves(event("ReplicaSet", "shop-backend-5d8f"), STACK)
    assert involves(event("Pod", "shop-postgres-0"), STACK)
    assert involves({"regarding": {"kind": "Secret", "name": "shop-db"}}, STACK)  # events.k8s.io's field


def test_events_of_other_objects_are_left_out() -> None:
    assert not involves(event("WebStack", "other", "ws2"), STACK)
    assert not involves(event("Deployment", "shop-backend-2"), STACK)  # not a child; a prefix is not enough
    assert not involves(event("Pod", "other-backend-1"), STACK)
    assert not involves(event("ConfigMap", "shop-backend-x"), STACK)  # only Pods and ReplicaSets by name
    assert not involves({}, STACK)


def test_the_secrets_pods_read_are_found_in_env_envfrom_and_volumes() -> None:
    deployment = {
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "env": [
                                {
                                    "name": "P",
                                    "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
                                },
                                {"name": "Q", "value": "plain"},
                            ],
                            "envFrom": [{"secretRef": {"name": "extra"}}, {"configMapRef": {"name": "cm"}}],
                        }
                    ],
                    "volumes": [{"name": "tls", "secret": {"secretName": "tls"}}],
                }
            }
        }
    }
    assert secret_names_referenced([deployment]) == {"db", "extra", "tls"}
    assert secret_names_referenced([{"spec": {}}]) == set()


def test_the_plan_applies_as_the_manager_that_applied_the_spec() -> None:
    ws = {
        "metadata": {
            "managedFields": [
                {"manager": "webstack-operator", "operation": "Update", "fieldsV1": {"f:status": {}}},
                {"manager": "argocd-controller", "operation": "Apply", "fieldsV1": {"f:spec": {}}},
            ]
        }
    }
    assert applied_manager(ws) == "argocd-controller"
    assert applied_manager({"metadata": {}}) == "kubectl"  # made by create/replace: kubectl's default

"""plan/actions.py, managed_fields.py: field diffs, per-object actions, grouping, exit codes, the JSON."""

from __future__ import annotations

import copy
from typing import Any

from webstack_operator.cli.plan.actions import (
    ObjectPlan,
    PlanAction,
    PlanResult,
    StackPlan,
    exit_code,
    field_changes,
    ordered,
    plan_deletes,
    plan_json,
    plan_object,
    taken_fields,
)
from webstack_operator.cli.plan.view import plan_text
from webstack_operator.kube import managed_fields
from webstack_operator.objects.ownership import Ownership
from webstack_operator.objects.stamps import DESIRED_HASH, FIELD_MANAGER, desired_hash

OURS_TREE: dict[str, Any] = {
    "f:metadata": {"f:annotations": {f"f:{DESIRED_HASH}": {}}, "f:labels": {"f:app": {}}},
    "f:spec": {
        "f:replicas": {},
        "f:template": {
            "f:spec": {
                "f:containers": {
                    'k:{"name":"backend"}': {".": {}, "f:name": {}, "f:image": {}},
                }
            }
        },
    },
}


def desired(image: str = "api:1", replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "shop-backend",
            "namespace": "team-a",
            "labels": {"app": "x", "app.kubernetes.io/component": "backend"},
        },
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": [{"name": "backend", "image": image}]}},
        },
    }


def live_of(
    obj: dict[str, Any], *, others: list[dict[str, Any]] | None = None, tree: Any = None
) -> dict[str, Any]:
    """`obj` as the API server would hold it after the operator applied it (plus what others own)."""
    out = copy.deepcopy(obj)
    out["metadata"]["annotations"] = {DESIRED_HASH: desired_hash(obj)}
    out["metadata"]["uid"] = "u1"
    out["metadata"]["managedFields"] = [
        {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": tree or OURS_TREE},
        {
            "manager": "kube-controller-manager",
            "operation": "Update",
            "subresource": "status",
            "fieldsV1": {},
        },
        *(others or []),
    ]
    out["status"] = {"readyReplicas": 2}
    return out


def test_a_new_image_is_an_update_of_that_field_only() -> None:
    new = desired(image="api:2")
    live, after = live_of(desired()), live_of(new)
    after["status"] = {"readyReplicas": 0}  # not a managed field: never compared
    result = plan_object(new, live, after, Ownership.OURS, "shop")
    assert result.action is PlanAction.UPDATE
    assert [(c.path, c.before, c.after) for c in result.fields] == [
        ("spec.template.spec.containers[name=backend].image", "api:1", "api:2")
    ]
    assert result.component == "backend"


def test_the_same_intent_unchanged_is_unchanged() -> None:
    obj = desired()
    assert plan_object(obj, live_of(obj), live_of(obj), Ownership.OURS, "shop").action is PlanAction.UNCHANGED


def test_a_field_taken_by_another_manager_is_drift_even_with_the_value_back() -> None:
    obj = desired()
    tree = copy.deepcopy(OURS_TREE)
    del tree["f:spec"]["f:replicas"]
    scaled = live_of(
        obj,
        tree=tree,
        others=[
            {
                "manager": "kubectl",
                "operation": "Update",
                "subresource": "scale",
                "fieldsV1": {"f:spec": {"f:replicas": {}}},
            }
        ],
    )
    scaled["spec"]["replicas"] = 5
    result = plan_object(obj, scaled, live_of(obj), Ownership.OURS, "shop")
    assert result.action is PlanAction.DRIFT
    assert [(c.path, c.before, c.after, c.taken_by) for c in result.fields] == [
        ("spec.replicas", 5, 2, "kubectl (/scale)")
    ]
    same_value = copy.deepcopy(scaled)
    same_value["spec"]["replicas"] = 2
    again = plan_object(obj, same_value, live_of(obj), Ownership.OURS, "shop")
    assert again.action is PlanAction.DRIFT and again.fields[0].before == again.fields[0].after == 2


def test_a_change_under_the_same_intent_is_drift() -> None:
    """Nobody took a field (a label removed by hand), but the object was applied from this very spec."""
    obj = desired()
    live = live_of(obj)
    del live["metadata"]["labels"]["app"]
    result = plan_object(obj, live, live_of(obj), Ownership.OURS, "shop")
    assert result.action is PlanAction.DRIFT
    assert (
        result.fields[0].path == "metadata.labels.app" and result.fields[0].before is managed_fields.MISSING
    )


def test_shared_ownership_is_not_drift() -> None:
    obj = desired()
    other = {"manager": "argocd", "operation": "Apply", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    assert taken_fields(live_of(obj, others=[other]), live_of(obj)) == {}


def test_fields_of_other_managers_are_not_compared() -> None:
    obj = desired()
    live = live_of(obj)
    live["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    after = live_of(obj)
    after["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "4"
    assert field_changes(live, after)[0] == []


def test_the_desired_hash_alone_is_no_change() -> None:
    obj = desired()
    live = live_of(obj)
    live["metadata"]["annotations"][DESIRED_HASH] = "older"
    assert plan_object(obj, live, live_of(obj), Ownership.OURS, "shop").action is PlanAction.UNCHANGED


def test_create_conflict_adoption_and_create_only() -> None:
    obj = desired()
    assert plan_object(obj, None, None, None, "shop").action is PlanAction.CREATE
    foreign = {**obj, "metadata": {**obj["metadata"], "uid": "x"}}
    conflict = plan_object(obj, foreign, None, Ownership.CONFLICT, "shop")
    assert conflict.action is PlanAction.CONFLICT and "not created by this WebStack" in conflict.message
    doomed = plan_object(obj, foreign, None, Ownership.DOOMED, "shop")
    assert doomed.action is PlanAction.CREATE and "earlier WebStack shop" in doomed.message
    adopted = plan_object(obj, foreign, live_of(obj), Ownership.ADOPTABLE, "shop")
    assert adopted.action is PlanAction.UPDATE and "webstack.dev/adopt=true" in adopted.message
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "shop-postgres", "namespace": "a"}}
    assert plan_object(secret, secret, None, Ownership.OURS, "shop").action is PlanAction.UNCHANGED


def test_secret_values_are_hidden() -> None:
    obj: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "a"},
        "data": {"k": "b2xk"},
    }
    tree: dict[str, Any] = {"f:data": {"f:k": {}}}
    live: dict[str, Any] = {
        **obj,
        "metadata": {
            **obj["metadata"],
            "managedFields": [{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": tree}],
        },
    }
    after = copy.deepcopy(live)
    after["data"]["k"] = "bmV3"
    changes, _ = field_changes(live, after)
    assert [(c.path, c.before, c.after) for c in changes] == [("data.k", "(hidden)", "(hidden)")]


def test_diff_follows_maps_and_reports_a_list_item_whole() -> None:
    tree: dict[str, Any] = {
        "f:spec": {
            "f:ports": {
                'k:{"port":80}': {".": {}, "f:port": {}, "f:name": {}},
                'k:{"port":81}': {".": {}, "f:port": {}},
            }
        }
    }
    before = {"spec": {"ports": [{"port": 80, "name": "a"}]}}
    after = {"spec": {"ports": [{"port": 80, "name": "b"}, {"port": 81}]}}
    found = [
        (managed_fields.readable(d.path), d.before, d.after) for d in managed_fields.diff(tree, before, after)
    ]
    assert found == [
        ("spec.ports[port=80].name", "a", "b"),
        ("spec.ports[port=81]", managed_fields.MISSING, {"port": 81}),
    ]
    assert managed_fields.readable(("f:spec", 'v:"x"', "i:2")) == 'spec[="x"][2]'
    assert managed_fields.value_at({"a": ["x", "y"]}, ("f:a", 'v:"y"')) == "y"
    assert managed_fields.value_at({"a": [1]}, ("f:a", "i:3")) is managed_fields.MISSING


def test_grouping_exit_codes_and_json() -> None:
    def o(action: PlanAction, component: str, name: str) -> ObjectPlan:
        return ObjectPlan(action, "v1", "Service", "a", name, component)

    objects = [
        o(PlanAction.UNCHANGED, "monitoring", "m"),
        o(PlanAction.UPDATE, "zeta", "z"),
        o(PlanAction.CREATE, "backend", "b"),
    ]
    assert [name for name, _ in ordered(objects)] == ["backend", "monitoring", "zeta"]
    assert exit_code(PlanResult((StackPlan("a", "s", True, (objects[0],)),))) == 0
    assert exit_code(PlanResult((StackPlan("a", "s", True, tuple(objects)),))) == 2
    conflict_only = StackPlan("a", "s", True, (o(PlanAction.CONFLICT, "cache", "c"),))
    assert exit_code(PlanResult((conflict_only,))) == 2
    assert exit_code(PlanResult((conflict_only,), errors=("boom",))) == 1
    gone = plan_deletes(
        [
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": "d",
                    "namespace": "a",
                    "labels": {"app.kubernetes.io/component": "monitoring"},
                },
            }
        ]
    )
    shown = plan_json(PlanResult((StackPlan("a", "s", False, (*objects, *gone)),)))
    assert shown["formatVersion"] == 1 and shown["exitCode"] == 2 and shown["changes"] is True
    stack = shown["stacks"][0]
    assert stack["summary"] == {
        "create": 1,
        "update": 1,
        "drift": 0,
        "delete": 1,
        "conflict": 0,
        "unchanged": 1,
    }
    assert stack["objects"][-1] == {
        "action": "delete",
        "component": "monitoring",
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "namespace": "a",
        "name": "d",
        "fields": [],
        "message": "no longer desired",
    }


def migration_job(node_selector: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "shop-migrate-1a2b", "namespace": "team-a", "labels": {"app": "x"}},
        "spec": {"template": {"spec": {"nodeSelector": node_selector, "containers": [{"name": "m"}]}}},
    }


def test_a_kept_job_that_differs_is_unchanged_and_says_why() -> None:
    # A Job is never patched (its pod template is immutable): a new placement is not written to it.
    created = migration_job({"pool": "a"})
    same = plan_object(created, live_of(created), None, Ownership.OURS, "shop")
    assert (same.action, same.message) == (PlanAction.UNCHANGED, "")
    moved = plan_object(migration_job({"pool": "b"}), live_of(created), None, Ownership.OURS, "shop")
    assert moved.action is PlanAction.UNCHANGED
    assert "kept as created" in moved.message and "next run" in moved.message
    stack = StackPlan("team-a", "shop", True, (moved,))
    assert exit_code(PlanResult((stack,))) == 0  # nothing will be written
    assert "Job shop-migrate-1a2b  (kept as created" in plan_text(PlanResult((stack,)))

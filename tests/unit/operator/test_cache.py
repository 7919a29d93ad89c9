"""The child cache: owner lookup by labels, slimming, tombstones, and memory released with the stack."""

from __future__ import annotations

import sys
from typing import Any

from webstack_operator import labels
from webstack_operator.cache import ChildCache, pod_template_hashes, slim, stack_of
from webstack_operator.stamps import DESIRED_HASH, FIELD_MANAGER, Applied, key_of

STACK = ("team", "shop")


def _child(
    name: str,
    rv: str = "1",
    ns: str = "team",
    stack_ns: str | None = None,
    kind: str = "Service",
    api_version: str = "v1",
    **extra: Any,
) -> dict[str, Any]:
    lbl = {labels.INSTANCE: "shop", labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.NAME: "nginx"}
    if stack_ns:
        lbl[labels.STACK_NAMESPACE] = stack_ns
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns, "labels": lbl, "resourceVersion": rv, "uid": f"u-{name}"},
        **extra,
    }


def test_stack_of_reads_instance_and_cross_namespace_label() -> None:
    assert stack_of(_child("a")) == STACK
    assert stack_of(_child("a", ns="velero", stack_ns="team")) == STACK
    unmanaged = _child("a")
    del unmanaged["metadata"]["labels"][labels.MANAGED_BY]
    assert stack_of(unmanaged) is None


def test_cache_keeps_newest_and_tombstones_deletions_of_a_live_stack() -> None:
    cache = ChildCache()
    cache.track(STACK, "stack-uid")
    assert cache.upsert(_child("a", rv="3")) == STACK
    assert cache.upsert(_child("a", rv="5")) == STACK
    cache.wrote(STACK, _child("a", rv="3"), Applied("h", "", "3", "u-a"))  # a late answer must not win
    seen = cache.get(("v1", "Service", "team", "a"))
    assert seen is not None
    assert seen.obj["metadata"]["resourceVersion"] == "5"
    assert [o["metadata"]["name"] for o in cache.children(STACK)] == ["a"]
    cache.remove(_child("a", rv="6"))
    assert cache.children(STACK) == []
    assert cache.deleted_by_someone(STACK, ("v1", "Service", "team", "a"))
    cache.upsert(_child("a", rv="7"))
    assert not cache.deleted_by_someone(STACK, ("v1", "Service", "team", "a"))


def test_the_cache_follows_watch_order_not_numeric_resource_versions() -> None:
    """Versions are opaque: after an etcd restore they go back, and the watch's next event is still the
    newest. A late copy of a version the watch has moved past never wins."""
    cache = ChildCache()
    key = ("v1", "Service", "team", "a")

    def held() -> str:
        seen = cache.get(key)
        assert seen is not None
        return str(seen.obj["metadata"]["resourceVersion"])

    cache.upsert(_child("a", rv="900"))
    cache.upsert(_child("a", rv="12"))  # restored from a backup: numbers went back
    assert held() == "12"
    cache.wrote(STACK, _child("a", rv="14"), Applied("h", "", "14", "u-a"))
    assert held() == "14"
    cache.upsert(_child("a", rv="14"))
    cache.upsert(_child("a", rv="c0ffee"))  # not a number at all
    assert held() == "c0ffee"
    cache.wrote(STACK, _child("a", rv="14"), Applied("h", "", "14", "u-a"))  # read late: the watch moved on
    cache.upsert(_child("a", rv="12"))  # a late copy
    assert held() == "c0ffee"


def test_children_of_an_unknown_stack_leave_no_tombstones() -> None:
    cache = ChildCache()
    cache.upsert(_child("a"))
    cache.remove(_child("a", rv="2"))
    assert not cache.deleted_by_someone(STACK, ("v1", "Service", "team", "a"))
    assert cache.sizes() == (0, 0)


def test_slim_keeps_what_reconcile_and_status_read_and_nothing_else() -> None:
    deployment = _child(
        "shop-backend",
        kind="Deployment",
        api_version="apps/v1",
        spec={
            "replicas": 3,
            "selector": {"matchLabels": {"a": "b"}},
            "template": {"spec": {"containers": [{"image": "api:1", "env": [{"name": "X", "value": "y"}]}]}},
        },
        status={"availableReplicas": 3, "observedGeneration": 2},
    )
    deployment["metadata"].update(
        generation=2,
        annotations={DESIRED_HASH: "h", "kubectl.kubernetes.io/last-applied-configuration": "{...}"},
        ownerReferences=[{"uid": "stack-uid", "controller": True}],
        managedFields=[{"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": {"f:spec": {}}}],
    )
    small = slim(deployment)
    assert small["spec"] == {"replicas": 3, "template": {"spec": {"containers": [{"image": "api:1"}]}}}
    assert small["status"] == {"availableReplicas": 3, "observedGeneration": 2}
    assert small["metadata"]["annotations"] == {DESIRED_HASH: "h"}
    assert small["metadata"]["ownerReferences"] == [{"uid": "stack-uid", "controller": True}]
    assert "managedFields" not in small["metadata"]
    assert labels.NAME not in small["metadata"]["labels"]
    configmap = _child("ui", kind="ConfigMap", data={"index.html": "x" * 100_000})
    assert "data" not in slim(configmap)
    cache = ChildCache()
    cache.upsert(deployment)
    seen = cache.get(key_of(deployment))
    assert seen is not None
    assert seen.fields_hash  # our managed-fields entry, kept as a hash


def test_a_service_keeps_only_the_selector_key_argo_rollouts_sets() -> None:
    selector = {labels.INSTANCE: "shop", labels.COMPONENT: "backend"}
    stable = _child("shop-backend", spec={"selector": {**selector, "rollouts-pod-template-hash": "abc"}})
    canary = _child("shop-backend-canary", spec={"selector": {**selector, "rollouts-pod-template-hash": "d"}})
    plain = _child("shop-frontend", spec={"selector": selector, "ports": [{"port": 80}]})
    assert slim(stable)["spec"] == {"selector": {"rollouts-pod-template-hash": "abc"}}
    assert "spec" not in slim(plain)  # nothing of a Service without Argo's key is kept
    children = [slim(stable), slim(canary), slim(plain), stable, _child("x", kind="ConfigMap")]
    assert pod_template_hashes(children) == {"shop-backend": "abc", "shop-backend-canary": "d"}
    assert pod_template_hashes([]) == {}


def test_resync_removes_what_the_list_no_longer_has_and_names_the_stacks_touched() -> None:
    cache = ChildCache()
    cache.track(STACK, "stack-uid")
    cache.upsert(_child("a"))
    cache.upsert(_child("b"))
    assert cache.resync("v1", "Service", [_child("b", rv="2")]) == {STACK}
    assert [o["metadata"]["name"] for o in cache.children(STACK)] == ["b"]
    assert cache.deleted_by_someone(STACK, ("v1", "Service", "team", "a"))
    assert cache.resync("v1", "ConfigMap", []) == set()


def test_forgetting_a_stack_releases_everything_held_for_it() -> None:
    cache = ChildCache()
    baseline = cache.sizes()
    for i in range(500):
        stack = (f"ns-{i}", "shop")
        cache.track(stack, "stack-uid")
        for name in ("shop-backend", "shop-frontend", "shop-postgres"):
            child = _child(name, ns=f"ns-{i}")
            cache.wrote(stack, child, Applied("h", "f", "1", "u"))
        cache.remove(_child("shop-backend", ns=f"ns-{i}", rv="2"))  # a tombstone
    assert cache.sizes() == (1000, 500)
    for i in range(500):
        stack = (f"ns-{i}", "shop")
        cache.forget(stack)
        # garbage collection deletes the children after the stack is gone
        for name in ("shop-frontend", "shop-postgres"):
            cache.remove(_child(name, ns=f"ns-{i}", rv="3"))
    assert cache.sizes() == baseline
    assert cache._stacks == {}


def test_children_still_present_stay_indexed_for_a_recreated_stack() -> None:
    cache = ChildCache()
    cache.track(STACK, "stack-uid")
    cache.wrote(STACK, _child("shop-postgres", kind="Secret"), Applied("h", "", "1", "u"))
    cache.forget(STACK)
    assert cache.applied(STACK, ("v1", "Secret", "team", "shop-postgres")) is None
    assert [o["metadata"]["name"] for o in cache.children(STACK)] == ["shop-postgres"]


def test_a_slim_child_is_much_smaller_than_the_object() -> None:
    configmap = _child("ui", kind="ConfigMap", data={"index.html": "x" * 50_000})
    assert _deep_size(slim(configmap)) < 2_000 < _deep_size(configmap)


def _deep_size(value: object) -> int:
    if isinstance(value, dict):
        return sys.getsizeof(value) + sum(_deep_size(k) + _deep_size(v) for k, v in value.items())
    if isinstance(value, list):
        return sys.getsizeof(value) + sum(_deep_size(v) for v in value)
    return sys.getsizeof(value)


def test_a_child_of_an_earlier_stack_of_the_same_name_going_away_is_no_drift() -> None:
    cache = ChildCache()
    cache.track(STACK, "new-uid")
    old = _child("a")
    old["metadata"]["ownerReferences"] = [
        {"kind": "WebStack", "name": "shop", "uid": "old-uid", "controller": True}
    ]
    cache.upsert(old)
    cache.remove(old)  # garbage collection of the deleted WebStack's child
    assert not cache.deleted_by_someone(STACK, key_of(old))
    mine = _child("b")
    mine["metadata"]["ownerReferences"] = [
        {"kind": "WebStack", "name": "shop", "uid": "new-uid", "controller": True}
    ]
    cache.upsert(mine)
    cache.remove(mine)
    assert cache.deleted_by_someone(STACK, key_of(mine))


def test_velero_backups_keep_their_outcome_and_expiring_leaves_no_tombstone() -> None:
    cache = ChildCache()
    cache.track(STACK, "stack-uid")
    status = {"phase": "Completed", "startTimestamp": "a", "completionTimestamp": "b", "progress": {"x": 1}}
    backup = _child(
        "b1", ns="velero", stack_ns="team", kind="Backup", api_version="velero.io/v1", status=status
    )
    backup["metadata"]["creationTimestamp"] = "2026-12-01T00:00:00Z"
    backup["metadata"]["labels"][labels.STACK_UID] = "stack-uid"
    slimmed = slim(backup)
    assert slimmed["status"] == {"phase": "Completed", "startTimestamp": "a", "completionTimestamp": "b"}
    assert slimmed["metadata"]["creationTimestamp"] == "2026-12-01T00:00:00Z"
    cache.upsert(backup)
    cache.remove(backup)  # Velero deletes expired backups: no drift, nothing held
    assert not cache.deleted_by_someone(STACK, key_of(backup))

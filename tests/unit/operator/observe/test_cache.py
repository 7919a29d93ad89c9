"""The child cache: owner lookup by labels, slimming, tombstones, and memory released with the stack."""

from __future__ import annotations

import sys
from typing import Any

from webstack_operator.objects import labels
from webstack_operator.objects.stamps import DESIRED_HASH, FIELD_MANAGER, Applied, key_of
from webstack_operator.observe.cache import ChildCache, pod_template_hashes, slim, stack_of

STACK = ("team", "shop")


def _child(
    name: str,
    rv: str = "1",
    ns: str = "team",
    stack_ns: str | None = None,
    kind: str = "Service",
    api_version: str = "v1",
    owner: str | None = "stack-uid",
    **extra: Any,
) -> dict[str, Any]:
    """A child as the watches see it: our labels and, unless `owner` is None, a controller reference to
    the WebStack `shop` with that UID (in the stack's namespace; elsewhere the stack-uid label instead)."""
    lbl = {labels.INSTANCE: "shop", labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.NAME: "nginx"}
    meta: dict[str, Any] = {"name": name, "namespace": ns, "resourceVersion": rv, "uid": f"u-{name}"}
    if stack_ns:
        lbl[labels.STACK_NAMESPACE] = stack_ns
        if owner:
            lbl[labels.STACK_UID] = owner
    elif owner:
        meta["ownerReferences"] = [_webstack_ref(owner)]
    return {"apiVersion": api_version, "kind": kind, "metadata": {**meta, "labels": lbl}, **extra}


def _webstack_ref(uid: str, name: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "webstack.dev/v1alpha1",
        "kind": "WebStack",
        "name": name,
        "uid": uid,
        "controller": True,
    }


def _schedule(ns: str = "velero", owner: str | None = "stack-uid") -> dict[str, Any]:
    return _child(
        "team-shop-1a2b", ns=ns, stack_ns="team", kind="Schedule", api_version="velero.io/v1", owner=owner
    )


def test_stack_of_reads_the_controller_reference_in_the_namespace_and_labels_elsewhere() -> None:
    assert stack_of(_child("a")) == STACK
    assert stack_of(_child("a", owner=None)) == STACK  # no controller: a leftover, in its own namespace
    renamed = _child("a")
    renamed["metadata"]["ownerReferences"] = [_webstack_ref("stack-uid", name="blog")]
    assert stack_of(renamed) == ("team", "blog")  # the owner reference says which stack, not the label
    assert stack_of(_schedule()) == STACK
    assert stack_of(_schedule(owner=None)) is None  # elsewhere, only the UID label makes it a stack's
    unmanaged = _child("a", owner=None)
    del unmanaged["metadata"]["labels"][labels.MANAGED_BY]
    assert stack_of(unmanaged) is None


def test_labels_never_make_an_object_of_another_namespace_a_stacks() -> None:
    """The issue's look-alikes: in `zzz`, named like `team/shop`'s children, labelled for it."""
    lookalike = _child("shop-backend", ns="zzz", stack_ns="team", owner=None)
    assert stack_of(lookalike) is None
    owned_elsewhere = _child("shop-backend", ns="zzz", stack_ns="team", owner=None)
    owned_elsewhere["metadata"]["ownerReferences"] = [_webstack_ref("stack-uid")]
    assert stack_of(owned_elsewhere) == ("zzz", "shop")  # an owner reference points within its namespace
    cache = ChildCache(elsewhere="velero")
    cache.track(STACK, "stack-uid")
    hash_key = {"selector": {"rollouts-pod-template-hash": "bogus"}}
    for obj in (
        lookalike,
        owned_elsewhere,
        _schedule(ns="zzz"),
        _child("shop-frontend", ns="zzz", spec=hash_key),
    ):
        assert cache.upsert(obj) != STACK
    assert cache.children(STACK) == []
    assert pod_template_hashes(cache.children(STACK)) == {}
    assert cache.upsert(_schedule()) == STACK  # the one namespace the stack writes outside its own
    assert [o["kind"] for o in cache.children(STACK)] == ["Schedule"]
    for obj in (lookalike, owned_elsewhere, _schedule(ns="zzz")):
        assert cache.remove(obj) != STACK
    assert not cache.deleted_by_someone(STACK, key_of(lookalike))


def test_children_are_the_live_webstacks_by_uid() -> None:
    """A re-created stack: the earlier WebStack's children (being collected) and labelled objects nobody
    controls stay indexed under its name, for the ownership rules, but are not its children."""
    cache = ChildCache()
    cache.track(STACK, "new-uid")
    cache.upsert(_child("doomed", owner="old-uid"))
    cache.upsert(_child("leftover", owner=None))
    cache.upsert(_child("mine", owner="new-uid"))
    rollout = _child("shop-backend", kind="Rollout", api_version="argoproj.io/v1alpha1", owner="new-uid")
    cache.upsert(rollout)
    run = _child("shop-backend-1-1", kind="AnalysisRun", api_version="argoproj.io/v1alpha1", owner=None)
    run["metadata"]["ownerReferences"] = [
        {"kind": "Rollout", "uid": rollout["metadata"]["uid"], "controller": True}
    ]
    cache.upsert(run)
    assert [o["metadata"]["name"] for o in cache.children(STACK)] == [
        "shop-backend-1-1",
        "shop-backend",
        "mine",
    ]
    assert cache.get(key_of(_child("doomed"))) is not None
    cache.track(STACK, "old-uid")
    assert [o["metadata"]["name"] for o in cache.children(STACK)] == ["doomed"]


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
    assert cache.get(("v1", "Secret", "team", "shop-postgres")) is not None
    cache.track(STACK, "stack-uid")
    assert [o["metadata"]["name"] for o in cache.children(STACK)] == ["shop-postgres"]


def test_a_slim_child_is_much_smaller_than_the_object() -> None:
    configmap = _child("ui", kind="ConfigMap", owner=None, data={"index.html": "x" * 50_000})
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


def test_a_full_list_replaces_whatever_is_held() -> None:
    """A list is the truth at its moment and the watch resumes from it: whatever order the copies before
    it came in, its item is held afterwards (nothing can stick across a relist)."""
    cache = ChildCache()
    key = ("v1", "Service", "team", "a")
    cache.upsert(_child("a", rv="102"))
    cache.upsert(_child("a", rv="101"))  # reported after 102, so held: the watch's order is all we know
    cache.resync("v1", "Service", [_child("a", rv="102")], namespace="team")
    seen = cache.get(key)
    assert seen is not None and seen.obj["metadata"]["resourceVersion"] == "102"

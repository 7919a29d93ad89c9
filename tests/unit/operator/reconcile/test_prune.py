"""Carrying out a prune plan: what is let go is patched (never deleted) and said once; the rest is deleted
with its propagation policy and a UID precondition."""

from __future__ import annotations

from typing import Any, cast

from webstack_operator.kube.client import KubeClient, Resource
from webstack_operator.objects import labels
from webstack_operator.objects.stamps import FIELD_MANAGER
from webstack_operator.observe.cache import ChildCache
from webstack_operator.reconcile import prune
from webstack_operator.reconcile.decisions import Event
from webstack_operator.reconcile.transitions import ORPHANED_FROM, Prune

STACK = ("team", "shop")
UID = "stack-uid"
RESOURCES = {
    ("apps/v1", "StatefulSet"): Resource("apps", "v1", "StatefulSet", "statefulsets", namespaced=True),
    ("bitnami.com/v1alpha1", "SealedSecret"): Resource(
        "bitnami.com", "v1alpha1", "SealedSecret", "sealedsecrets", namespaced=True
    ),
}


class RecordingClient:
    field_manager = FIELD_MANAGER

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any, Any]] = []

    def resource(self, api_version: str, kind: str) -> Resource | None:
        return RESOURCES.get((api_version, kind))

    async def request(self, method: str, path: str, *, body: Any = None, **kw: Any) -> dict[str, Any]:
        self.requests.append((method, path, body, kw.get("content_type")))
        if method == "PATCH":
            meta = {**_child("StatefulSet", "shop-postgres", "apps/v1")["metadata"], **body["metadata"]}
            meta["ownerReferences"], meta["resourceVersion"] = [], "5"  # the patch's version
            return {"apiVersion": "apps/v1", "kind": "StatefulSet", "metadata": meta}
        return {}


def _child(kind: str, name: str, api_version: str) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": "team",
            "uid": f"uid-{name}",
            "resourceVersion": "5",
            "labels": {labels.INSTANCE: "shop", labels.MANAGED_BY: labels.MANAGED_BY_VALUE},
            "ownerReferences": [{"uid": UID, "controller": True, "kind": "WebStack", "name": "shop"}],
        },
    }


async def test_an_orphan_is_patched_and_told_once_and_a_credentials_source_deleted_with_orphan() -> None:
    client, cache, told = RecordingClient(), ChildCache(), []
    cache.track(STACK, UID)
    sts = _child("StatefulSet", "shop-postgres", "apps/v1")
    sealed = _child("SealedSecret", "shop-postgres", "bitnami.com/v1alpha1")
    owner = {"metadata": {"name": "shop", "namespace": "team", "uid": UID}}

    async def tell(_: Any, event: Event) -> None:
        told.append(event)

    plan = Prune(delete=[(sealed, "Orphan")], orphan=[sts])
    await prune.carry_out(cast(KubeClient, client), cache, STACK, owner, plan, tell)
    (patch, delete) = client.requests
    assert patch[:2] == ("PATCH", "/apis/apps/v1/namespaces/team/statefulsets/shop-postgres")
    assert patch[3] == "application/merge-patch+json"
    assert patch[2]["metadata"]["annotations"] == {ORPHANED_FROM: UID}
    assert delete[:2] == ("DELETE", "/apis/bitnami.com/v1alpha1/namespaces/team/sealedsecrets/shop-postgres")
    assert delete[2]["propagationPolicy"] == "Orphan"
    assert delete[2]["preconditions"] == {"uid": "uid-shop-postgres"}
    assert [e.reason for e in told] == ["Orphaned", "Pruned"]
    assert "delete statefulset shop-postgres" in told[0].message
    assert cache.children(STACK) == []  # the released StatefulSet, as the apiserver answered: not ours
    kept = cache.released(STACK)  # but seen, for the Orphaned condition
    assert [o["metadata"]["annotations"] for o in kept] == [{ORPHANED_FROM: UID}]


async def test_a_late_watch_event_never_sticks_over_the_release() -> None:
    """The patch's answer is a write's answer, not a watch event: a change from before it that the watch
    reports late is held only until the watch delivers the patch's own version."""
    client, cache = RecordingClient(), ChildCache()
    cache.track(STACK, UID)
    sts = _child("StatefulSet", "shop-postgres", "apps/v1")
    sts["metadata"]["resourceVersion"] = "3"  # the answer's will be "5"
    cache.upsert(sts)

    async def tell(_: Any, event: Event) -> None:
        pass

    owner = {"metadata": {"name": "shop", "namespace": "team", "uid": UID}}
    await prune.carry_out(cast(KubeClient, client), cache, STACK, owner, Prune(orphan=[sts]), tell)
    late = _child("StatefulSet", "shop-postgres", "apps/v1")
    late["metadata"]["resourceVersion"] = "4"  # a status update from before the patch, reported late
    cache.upsert(late)
    (_, _, body, _) = client.requests[0]
    released = await client.request("PATCH", "again", body=body)  # the answer's copy, as the watch reports it
    cache.upsert(released)
    assert [o["metadata"]["resourceVersion"] for o in cache.released(STACK)] == ["5"]
    assert cache.children(STACK) == []

"""The child cache that lets a reconcile read without listing, and owner lookup by labels."""

from __future__ import annotations

from typing import Any

from webstack_operator import labels
from webstack_operator.reconciler import ChildCache, stack_of


def _child(
    name: str, rv: str = "1", ns: str = "team", stack_ns: str | None = None, **extra: Any
) -> dict[str, Any]:
    lbl = {labels.INSTANCE: "shop", labels.MANAGED_BY: labels.MANAGED_BY_VALUE}
    if stack_ns:
        lbl[labels.STACK_NAMESPACE] = stack_ns
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": ns, "labels": lbl, "resourceVersion": rv},
        **extra,
    }


def test_stack_of_reads_instance_and_cross_namespace_label() -> None:
    assert stack_of(_child("a")) == ("team", "shop")
    assert stack_of(_child("a", ns="velero", stack_ns="team")) == ("team", "shop")
    unmanaged = _child("a")
    del unmanaged["metadata"]["labels"][labels.MANAGED_BY]
    assert stack_of(unmanaged) is None


def test_cache_keeps_newest_and_tombstones_deletions() -> None:
    cache = ChildCache()
    assert cache.upsert(_child("a", rv="5")) == ("team", "shop")
    cache.upsert(_child("a", rv="3"))  # a late, older event must not win
    assert cache.objects[("v1", "Service", "team", "a")]["metadata"]["resourceVersion"] == "5"
    assert [o["metadata"]["name"] for o in cache.of_stack(("team", "shop"))] == ["a"]
    cache.remove(_child("a", rv="6"))
    assert cache.of_stack(("team", "shop")) == []
    assert ("v1", "Service", "team", "a") in cache.tombstones
    cache.upsert(_child("a", rv="7"))
    assert ("v1", "Service", "team", "a") not in cache.tombstones


def test_prune_touches_only_what_this_stack_controls() -> None:
    from webstack_operator.reconciler import _prunable

    owner = {"metadata": {"namespace": "team", "uid": "stack-uid"}}
    ours = _child("a", ownerReferences=[])
    ours["metadata"]["ownerReferences"] = [{"uid": "stack-uid", "controller": True}]
    assert _prunable(ours, owner)
    sealed = _child("creds")  # made by the Sealed Secrets controller from our template: its labels, its owner
    sealed["metadata"]["ownerReferences"] = [{"uid": "sealedsecret-uid", "controller": True}]
    assert not _prunable(sealed, owner)
    assert not _prunable(_child("orphan"), owner)  # same namespace, no owner: not ours to delete
    assert _prunable(_child("schedule", ns="velero", stack_ns="team"), owner)
    kept = _child("kept")
    kept["metadata"]["annotations"] = {"webstack.dev/apply-policy": "create-only"}
    assert not _prunable(kept, owner)


def _controller() -> Any:
    from typing import cast

    from webstack_operator.kubeapi import KubeClient
    from webstack_operator.reconciler import Controller
    from webstack_operator.settings import OperatorSettings

    return Controller(client=cast(KubeClient, object()), settings=OperatorSettings(), debounce=0.0)


async def test_enqueue_collapses_a_burst_and_always_clears_its_mark() -> None:
    import asyncio

    controller = _controller()
    stack = ("team", "shop")
    controller.stacks[stack] = {"metadata": {"namespace": "team", "name": "shop"}}
    calls: list[str] = []

    async def reconcile(body: dict[str, Any]) -> str:
        calls.append(body["metadata"]["name"])
        return "Ready"

    controller.reconcile = reconcile
    for _ in range(5):
        controller.enqueue(stack)
    await asyncio.gather(*controller._tasks)
    assert calls == ["shop"]
    assert stack not in controller._queued
    controller.enqueue(stack)
    await asyncio.gather(*controller._tasks)
    assert calls == ["shop", "shop"]
    controller.enqueue(("team", "unknown"))  # not a known WebStack: nothing to do
    assert not controller._tasks


def test_enqueue_without_an_event_loop_leaves_no_mark_behind() -> None:
    """A handler run in kopf's thread pool has no loop: the call fails, but must not block the stack."""
    import pytest

    controller = _controller()
    stack = ("team", "shop")
    controller.stacks[stack] = {"metadata": {"namespace": "team", "name": "shop"}}
    with pytest.raises(RuntimeError):
        controller.enqueue(stack)
    assert stack not in controller._queued

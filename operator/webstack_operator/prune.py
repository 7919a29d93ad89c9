"""Carries out a prune plan (`transitions.plan_prune`): what is let go gets a conditional merge patch and one
Event naming it, the rest is deleted with a UID precondition (and the plan's propagation policy)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from webstack_operator import metrics, transitions
from webstack_operator.apply import delete_object, merge_patch
from webstack_operator.cache import ChildCache, StackKey
from webstack_operator.decide import Event
from webstack_operator.kubeapi import KubeClient
from webstack_operator.stamps import FIELD_MANAGER, JSON, where

Tell = Callable[[JSON, Event], Awaitable[None]]


async def carry_out(
    client: KubeClient, cache: ChildCache, stack: StackKey, owner: JSON, plan: transitions.Prune, tell: Tell
) -> None:
    uid = owner["metadata"]["uid"]
    for obj in plan.orphan:
        resource = client.resource(obj["apiVersion"], obj["kind"])
        assert resource is not None, "StatefulSets and Secrets are always served"
        patch = transitions.orphan_patch(obj, uid)
        cache.upsert(
            await merge_patch(client, resource, *where(obj), patch, manager=FIELD_MANAGER), answer=True
        )
    if plan.orphan:
        await tell(owner, transitions.orphan_event(stack[0], plan.orphan))
    for obj, propagation in plan.delete:
        resource = client.resource(obj["apiVersion"], obj["kind"])
        if resource is None:
            continue
        kind, ns, name = obj["kind"], obj["metadata"].get("namespace", ""), obj["metadata"]["name"]
        if await delete_object(client, resource, ns, name, obj["metadata"]["uid"], propagation=propagation):
            metrics.OBJECT_WRITES.labels(action="Pruned", kind=kind).inc()
            await tell(owner, Event("Normal", "Pruned", f"{kind} {name} is no longer desired"))
        cache.pruned(stack, obj)

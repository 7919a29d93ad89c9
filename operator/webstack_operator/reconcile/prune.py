"""Carries out a prune plan (`transitions.plan_prune`): what is let go gets a conditional merge patch and one
Event naming it, the rest is deleted with a UID precondition (and the plan's propagation policy). Also what a
plan looks at: the children, plus the credentials `Retain` keeps without an owner reference."""

from __future__ import annotations

from webstack_operator.kube.apply import delete_object, merge_patch
from webstack_operator.kube.client import KubeClient
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.ownership import controller_of, labelled_for
from webstack_operator.objects.stamps import key_of, where
from webstack_operator.observe.cache import ChildCache, StackKey
from webstack_operator.reconcile import transitions
from webstack_operator.reconcile.decisions import Event, Tell
from webstack_operator.telemetry import metrics


def candidates(cache: ChildCache, stack: StackKey, uid: str) -> list[JSON]:
    """What a prune plan looks at: the stack's children, and its generated database Secret under `Retain`,
    which carries no owner reference (`kept_credentials`) and so is none of them."""
    children = cache.children(stack)
    seen = cache.get(("v1", "Secret", stack[0], f"{stack[1]}-postgres"))
    if seen is None or not kept_credentials(seen.obj, stack, uid):
        return children
    return children if key_of(seen.obj) in {key_of(o) for o in children} else [*children, seen.obj]


def kept_credentials(obj: JSON, stack: tuple[str, str], owner_uid: str) -> bool:
    """The generated database Secret of this stack under `deletionPolicy: Retain`: without an owner reference
    (it outlives the WebStack, like the volume) it is none of the cache's children, yet an edit that stops
    rendering it lets it go like one. Recognised as the credentials rules do: generated, labelled for this
    stack, in its namespace, no other controller, not let go by another WebStack."""
    meta = obj["metadata"]
    released_by = (meta.get("annotations") or {}).get(labels.ORPHANED_FROM)
    controller = controller_of(obj)
    return (
        transitions.is_database_credentials(obj, stack[1])
        and meta.get("namespace") == stack[0]
        and labelled_for(obj, stack)
        and (meta.get("labels") or {}).get(labels.STACK_UID) in (None, owner_uid)
        and (controller is None or controller.get("uid") == owner_uid)
        and released_by in (None, owner_uid)
    )


async def carry_out(
    client: KubeClient, cache: ChildCache, stack: StackKey, owner: JSON, plan: transitions.Prune, tell: Tell
) -> None:
    uid = owner["metadata"]["uid"]
    for obj in plan.orphan:
        resource = client.resource(obj["apiVersion"], obj["kind"])
        assert resource is not None, "StatefulSets and Secrets are always served"
        patch = transitions.orphan_patch(obj, uid)
        cache.upsert(await merge_patch(client, resource, *where(obj), patch), answer=True)
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

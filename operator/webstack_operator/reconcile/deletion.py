"""Deleting a stack: owner references take everything in its namespace; this takes what lives elsewhere.

A restore drill's scratch namespace (builders/drill.py) is cluster-scoped and owned by nothing: a stack
deleted while a drill runs would leave it, with a copy of its data. It is deleted here too, for a stack
that ever ran drills (only those: a namespaced install may not read namespaces at all).

Kinds marked `elsewhere` in the kinds table (the Velero Schedule, in Velero's namespace) cannot carry an
owner reference to the WebStack, so the finalizer deletes them: listed by the stack's labels, deleted only
when they carry its UID label, in the one namespace it writes there. Bounded: after a few failed attempts
the deletion goes on and an Event says what to delete by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from webstack_operator.builders.drill import scratch_namespace_name
from webstack_operator.kube.apply import delete_object, get_object, list_objects
from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.objects import labels
from webstack_operator.objects.kinds import CHILD_KINDS
from webstack_operator.objects.ownership import belongs_to
from webstack_operator.observe.cache import StackKey, stack_of
from webstack_operator.reconcile.decisions import Event
from webstack_operator.reconcile.outcomes import Retry
from webstack_operator.telemetry import metrics

CLEANUP_ATTEMPTS = 5


async def delete_elsewhere(
    client: KubeClient, stack: StackKey, uid: str, namespace: str | None = None
) -> list[str]:
    """Deletes the stack's objects outside its namespace, looked for in `namespace` (the one namespace it
    writes them in, Velero's; None: every namespace); returns what was deleted. Only this WebStack's, by its
    UID label (`belongs_to`): labels naming the stack alone are anyone's to write."""
    deleted = []
    for row in CHILD_KINDS:
        # Velero's Backups carry the Schedule's labels but are the stack's data: they outlive it.
        resource = client.resource(row.api_version, row.kind) if row.elsewhere and row.rendered else None
        if resource is None:
            continue
        for obj in await list_objects(client, resource, namespace, labels.cross_namespace_selector(*stack)):
            ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
            mine = stack_of(obj) == stack and belongs_to(obj, stack[0], uid)
            if mine and await delete_object(client, resource, ns, name, obj["metadata"]["uid"]):
                deleted.append(f"{row.kind} {ns}/{name}")
    return deleted


async def delete_scratch(client: KubeClient, stack: StackKey, drills: bool) -> list[str]:
    """The stack's scratch namespace, if it ran drills and one is there carrying its labels."""
    resource = client.resource("v1", "Namespace")
    if not drills or resource is None:
        return []
    name = scratch_namespace_name(*stack)
    try:
        live = await get_object(client, resource, "", name)
    except ApiError as e:
        if e.status == 403:  # no right to namespaces (a namespaced install): it never made one
            return []
        raise
    found = (live or {}).get("metadata", {}).get("labels") or {}
    mine = found.get(labels.INSTANCE) == stack[1] and found.get(labels.STACK_NAMESPACE) == stack[0]
    if live is None or not mine or live["metadata"].get("deletionTimestamp"):
        return []
    await delete_object(client, resource, "", name, live["metadata"]["uid"])
    return [f"Namespace {name} (a restore drill's scratch namespace)"]


async def finalize(
    client: KubeClient,
    stack: StackKey,
    uid: str,
    attempt: int,
    tell: Callable[[Event], Awaitable[None]],
    *,
    namespace: str | None = None,
    drills: bool = False,
) -> None:
    """The finalizer's work; raises Retry while attempts remain, then gives up loudly. `namespace`: where
    the objects outside the stack's namespace are looked for (see delete_elsewhere)."""
    try:
        for what in [
            *await delete_elsewhere(client, stack, uid, namespace),
            *await delete_scratch(client, stack, drills),
        ]:
            await tell(Event("Normal", "Deleted", what))
    except ApiError as e:
        metrics.API_ERRORS.labels(status=str(e.status)).inc()
        if attempt < CLEANUP_ATTEMPTS:
            raise Retry(f"cleanup failed: {e}", delay=min(30, 2**attempt)) from e
        await tell(
            Event(
                "Warning",
                "CleanupAbandoned",
                f"could not delete objects outside the namespace after {CLEANUP_ATTEMPTS} attempts ({e}); "
                f"delete them by hand: selector {labels.cross_namespace_selector(*stack, uid)}"
                + (f" in namespace {namespace}" if namespace else ""),
            )
        )

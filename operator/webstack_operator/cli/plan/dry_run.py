"""`plan`'s questions to the API server: validate the WebStack, render it, dry-run every child, compare.

Read and dry-run only: a server-side dry run (`dryRun=All`) runs admission, validation and defaulting but
stores nothing. Each object's action is `plan_object`'s; which children prune would remove is
decisions.py's `to_prune`, the operator's own rule, and whose an object is, ownership.py's.
"""

from __future__ import annotations

import asyncio
import dataclasses

from webstack_operator.api.group_version import API_VERSION, KIND
from webstack_operator.api.spec import SpecError, parse_spec
from webstack_operator.builders.context import OwnerRef, StackContext
from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.cli.plan.actions import (
    ObjectPlan,
    PlanAction,
    PlanResult,
    StackPlan,
    plan_deletes,
    plan_object,
)
from webstack_operator.config.operator_settings import OperatorSettings
from webstack_operator.kube.apply import get_object, list_objects, server_side_apply
from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.kinds import CHILD_KINDS, capabilities_from
from webstack_operator.objects.ownership import Ownership, members, ownership
from webstack_operator.objects.stamps import key_of, stamped, where
from webstack_operator.observe.cache import pod_template_hashes, stack_of
from webstack_operator.reconcile import migration_gate, transitions
from webstack_operator.reconcile.decisions import is_create_only, kept_as_created, to_prune
from webstack_operator.reconcile.prune import kept_credentials

PLACEHOLDER_PASSWORD = "plan-placeholder-password-never-stored"
PLACEHOLDER_CACHE_PASSWORD = "plan-placeholder-cache-password-never-stored"
PAUSED_NOTE = "spec.paused is true: the operator applies and prunes nothing while paused"


class PlanError(Exception):
    """A stack that cannot be planned: what the API server or the renderer said."""


async def plan_stacks(
    client: KubeClient, documents: list[JSON], settings: OperatorSettings, namespace: str, manager: str
) -> PlanResult:
    """One plan per WebStack document, each in `namespace` unless the document names its own; `manager`:
    the field manager the user applies the WebStack with (its dry run keeps what others set, as theirs)."""
    served = await client.discover()
    settings = dataclasses.replace(settings, capabilities=capabilities_from(set(served)))
    stacks, errors = [], []
    for doc in documents:
        ns = doc.get("metadata", {}).get("namespace") or namespace
        try:
            stacks.append(await plan_stack(client, doc, settings, ns, manager))
        except PlanError as e:
            errors.append(f"WebStack {ns}/{doc['metadata'].get('name')}: {e}")
    return PlanResult(tuple(stacks), tuple(errors))


async def plan_stack(
    client: KubeClient, doc: JSON, settings: OperatorSettings, namespace: str, manager: str
) -> StackPlan:
    name = doc["metadata"]["name"]
    stack = (namespace, name)
    existing, validated = await _validate(client, doc, namespace, manager)
    try:
        spec = parse_spec(validated)
    except SpecError as e:
        raise PlanError(f"invalid spec: {e}") from None
    if spec.paused:
        return StackPlan(namespace, name, existing is not None, notes=(PAUSED_NOTE,))
    uid = str((existing or validated)["metadata"].get("uid") or "")
    found, notes = await _children(client, stack, settings)
    children = members(found, namespace, uid)  # the live WebStack's by UID, as the operator's cache keeps
    ctx = StackContext(
        spec=spec,
        name=name,
        namespace=namespace,
        settings=settings,
        owner=OwnerRef(api_version=API_VERSION, kind=KIND, name=name, uid=uid),
        generated_password=PLACEHOLDER_PASSWORD,
        generated_cache_password=PLACEHOLDER_CACHE_PASSWORD,
        pod_template_hashes=pod_template_hashes(children),  # as the operator renders them
    )
    try:
        desired = desired_objects(ctx)
    except (ValueError, KeyError) as e:
        raise PlanError(f"invalid spec: {e}") from None
    planned = await asyncio.gather(*(_plan_one(client, obj, stack, uid) for obj in desired))
    gate = migration_gate.gate(desired, children)
    objects = [_held(o, gate) for o in planned]
    prunable = to_prune(children, desired, uid if existing else "", namespace)
    retained = [o for o in found if o not in children and kept_credentials(o, stack, uid)]  # Retain's Secret
    kept = transitions.plan_prune([*children, *retained], desired, stack, uid, gate.held).orphan
    if kept and existing:  # transitions: data is let go, never deleted by an edit
        notes.append(transitions.orphaned_message(namespace, kept))
    objects += [_held(o, gate) for o in plan_deletes(o for o in prunable if key_of(o) not in gate.held)]
    return StackPlan(namespace, name, existing is not None, tuple(objects), tuple(notes))


async def _validate(client: KubeClient, doc: JSON, namespace: str, manager: str) -> tuple[JSON | None, JSON]:
    """The live WebStack (None: new) and the API server's dry-run apply of the file's: schema, CEL rules
    and defaults, exactly as `kubectl apply --server-side` would meet them."""
    resource = client.resource(API_VERSION, KIND)
    if resource is None:
        raise PlanError("the WebStack CRD (webstacks.webstack.dev) is not installed in this cluster")
    body = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
    body.pop("status", None)
    try:
        existing = await get_object(client, resource, namespace, doc["metadata"]["name"])
        validated = await server_side_apply(client, resource, body, dry_run=True, manager=manager)
    except ApiError as e:
        raise PlanError(_refusal(e)) from None
    return existing, validated


def _refusal(e: ApiError) -> str:
    if e.status == 422:
        return f"the API server refuses it: {e.message}"
    if e.status == 403:
        return f"forbidden: {e.message}"
    return f"{e.status} {e.reason}: {e.message}"


async def _children(
    client: KubeClient, stack: tuple[str, str], settings: OperatorSettings
) -> tuple[list[JSON], list[str]]:
    """The stack's children as the operator's watches see them (its labels, then `stack_of`), for every
    served child kind; a namespace outside the stack's that the caller may not read is a note."""

    async def one(row_kind: str, resource: Resource, namespace: str) -> tuple[list[JSON], str]:
        try:
            items = await list_objects(
                client, resource, namespace, labels.managed_instance_selector(stack[1])
            )
        except ApiError as e:
            if e.status == 403 and namespace != stack[0]:
                note = f"cannot list {row_kind} in {namespace} (forbidden): deletions there not shown"
                return [], note
            raise PlanError(_refusal(e)) from None
        return [o for o in items if stack_of(o) == stack], ""

    lookups = []
    for row in CHILD_KINDS:
        if not row.rendered:  # another controller's (Velero's Backups, Argo's AnalysisRuns): never planned
            continue
        resource = client.resource(row.api_version, row.kind)
        if resource is not None:
            ns = settings.velero_namespace if row.elsewhere else stack[0]
            lookups.append(one(row.kind, resource, ns))
    found = await asyncio.gather(*lookups)
    return [o for items, _ in found for o in items], [note for _, note in found if note]


async def _plan_one(client: KubeClient, obj: JSON, stack: tuple[str, str], uid: str) -> ObjectPlan:
    resource = client.resource(obj["apiVersion"], obj["kind"])
    if resource is None:  # rendered only for served kinds; a CRD removed since discovery
        raise PlanError(f"{obj['kind']} ({obj['apiVersion']}) is not served by this cluster")
    try:
        live = await get_object(client, resource, *where(obj))
        whose = None if live is None else ownership(live, stack, uid)
        after = None
        left_alone = whose in (Ownership.CONFLICT, Ownership.DOOMED) or is_create_only(obj)
        if live is None or not (left_alone or kept_as_created(obj, whose)):
            after = await server_side_apply(client, resource, stamped(obj)[0], dry_run=True)
    except ApiError as e:
        raise PlanError(f"{obj['kind']} {obj['metadata']['name']}: {_refusal(e)}") from None
    return plan_object(obj, live, after if live is not None else None, whose, stack[1])


def _held(o: ObjectPlan, gate: migration_gate.Migration) -> ObjectPlan:
    """The migration gate holds the backend until the new image's Job completed: say so."""
    key = (o.api_version, o.kind, o.namespace, o.name)
    if key not in gate.held or o.action is PlanAction.UNCHANGED or gate.verdict is None:
        return o
    note = f"after migration Job {gate.verdict.job} completes"
    return dataclasses.replace(o, message=f"{o.message}; {note}" if o.message else note)

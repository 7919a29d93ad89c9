"""What `report` reads of one stack: the WebStack, its children, its Secrets (key names), Events, the plan.

Every read that the caller's credentials may be refused (or that fails) becomes a line of the bundle's
refusals, never the end of the report: a user who may read the stack but not, say, Events still gets the
rest. Only a WebStack that does not exist (or cannot be read at all) ends it, as `StackNotFound`.
Secret values are read into memory only, to build the redactor; the bundle gets their key names.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass

from webstack_operator.api.group_version import API_VERSION, KIND
from webstack_operator.cli.report.bundle import Bundle, child_path
from webstack_operator.cli.report.redact import Redactor, key_names, secret_values
from webstack_operator.cli.stack_read import read_stack
from webstack_operator.kube.apply import list_objects
from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects.labels import managed_instance_selector
from webstack_operator.objects.ownership import members
from webstack_operator.observe.cache import stack_of

WORKLOADS = ("Deployment", "StatefulSet", "Job", "Rollout")  # whose Pods and ReplicaSets carry their name


class StackNotFound(Exception):
    """The WebStack named is not there (or not readable): the one error that ends a report."""


@dataclass(frozen=True)
class Stack:
    """What the report read of one stack, Secrets included in full: in memory only."""

    webstack: JSON
    children: list[JSON]
    secrets: list[JSON]
    pods: list[JSON]


def why(e: ApiError) -> str:
    if e.status == 0:
        return f"unreachable: {e.message}"
    return f"{e.status} {e.reason}: {e.message}"


async def read_webstack(client: KubeClient, namespace: str, name: str) -> JSON:
    resource = client.resource(API_VERSION, KIND)
    if resource is None:
        raise StackNotFound("the WebStack CRD (webstacks.webstack.dev) is not installed in this cluster")
    try:
        return await client.request("GET", resource.path(namespace, name))
    except ApiError as e:
        if e.status == 404:
            raise StackNotFound(f"WebStack {namespace}/{name} not found") from None
        raise StackNotFound(f"cannot read WebStack {namespace}/{name}: {why(e)}") from None


async def read_stack_for_report(client: KubeClient, namespace: str, name: str, bundle: Bundle) -> Stack:
    """The stack as `status` reads it (`read_stack`), plus its Secrets and Pods."""
    ws = await read_webstack(client, namespace, name)
    try:
        ws, children = await read_stack(client, namespace, name)
    except ApiError as e:
        bundle.refuse(f"children of WebStack {namespace}/{name}", why(e))
        children = []
    uid = str(ws["metadata"].get("uid") or "")
    secrets = await _listed(client, bundle, ("v1", "Secret"), namespace, name, uid)
    secrets += await _referenced_secrets(client, bundle, namespace, children, secrets)
    pods = await _listed(client, bundle, ("v1", "Pod"), namespace, name, uid="")
    return Stack(ws, children, secrets, pods)


async def _listed(
    client: KubeClient, bundle: Bundle, kind: tuple[str, str], namespace: str, name: str, uid: str
) -> list[JSON]:
    """One kind under the stack's labels, as the operator selects its children; `uid`: only those the
    WebStack owns (Secrets), else every one labelled for the stack (Pods, owned by ReplicaSets)."""
    resource = client.resource(*kind)
    if resource is None:
        return []
    try:
        items = await list_objects(client, resource, namespace, managed_instance_selector(name))
    except ApiError as e:
        bundle.refuse(f"{kind[1]}s of WebStack {namespace}/{name}", why(e))
        return []
    found = [o for o in items if stack_of(o) == (namespace, name)]
    return members(found, namespace, uid) if uid else found


def secret_names_referenced(objects: list[JSON]) -> set[str]:
    """Names of the Secrets these objects' pods read (env, envFrom, volumes): their values are struck too,
    though never resolved into the objects themselves."""
    names: set[str] = set()

    def walk(value: object) -> None:
        if isinstance(value, dict):
            for key in ("secretKeyRef", "secretRef"):
                if isinstance(value.get(key), dict) and value[key].get("name"):
                    names.add(str(value[key]["name"]))
            if isinstance(value.get("secret"), dict) and value["secret"].get("secretName"):
                names.add(str(value["secret"]["secretName"]))
            for v in value.values():
                walk(v)
        elif isinstance(value, list):
            for v in value:
                walk(v)

    walk(objects)
    return names


async def _referenced_secrets(
    client: KubeClient, bundle: Bundle, namespace: str, children: list[JSON], known: list[JSON]
) -> list[JSON]:
    """The Secrets the children name that are not the stack's own (a user's existing credentials)."""
    have = {s["metadata"]["name"] for s in known}
    wanted = sorted(secret_names_referenced(children) - have)

    async def one(name: str) -> JSON | None:
        try:
            return await client.request("GET", f"/api/v1/namespaces/{namespace}/secrets/{name}")
        except ApiError as e:
            bundle.refuse(f"Secret {namespace}/{name} (read only to redact its values)", why(e))
            return None

    return [s for s in await asyncio.gather(*(one(n) for n in wanted)) if s is not None]


def redactor_for(stack: Stack) -> Redactor:
    return Redactor.of(v for s in stack.secrets for v in secret_values(s))


def add_stack(bundle: Bundle, stack: Stack) -> None:
    bundle.add_yaml("webstack.yaml", stack.webstack)
    for child in stack.children:
        bundle.add_yaml(child_path(child), child)
    for secret in stack.secrets:
        bundle.add_yaml(f"secrets/{secret['metadata']['name']}.yaml", key_names(secret))
    for pod in stack.pods:
        bundle.add_yaml(f"pods/{pod['metadata']['name']}.yaml", pod)


def involves(event: JSON, stack: Stack) -> bool:
    """An Event about the WebStack, a child, a Pod of the stack, or a ReplicaSet of a child workload."""
    involved = event.get("involvedObject") or event.get("regarding") or {}
    objects = [stack.webstack, *stack.children, *stack.secrets, *stack.pods]
    if involved.get("uid") and involved["uid"] in {o["metadata"].get("uid") for o in objects}:
        return True
    kind, name = involved.get("kind"), str(involved.get("name") or "")
    if (kind, name) in {(o.get("kind", KIND), o["metadata"]["name"]) for o in objects}:
        return True
    workloads = [o["metadata"]["name"] for o in stack.children if o.get("kind") in WORKLOADS]
    return kind in ("Pod", "ReplicaSet") and any(name.startswith(f"{w}-") for w in workloads)


async def add_events(client: KubeClient, bundle: Bundle, stack: Stack) -> None:
    namespace = stack.webstack["metadata"]["namespace"]
    try:
        listed = await client.list_all(f"/api/v1/namespaces/{namespace}/events", {})
    except ApiError as e:
        bundle.refuse(f"Events in {namespace}", why(e))
        return
    items = [e for e in listed.get("items") or [] if involves(e, stack)]
    items.sort(key=lambda e: str(e.get("lastTimestamp") or e.get("eventTime") or ""))
    bundle.add_yaml("events.yaml", {"apiVersion": "v1", "kind": "EventList", "items": items})


def applied_manager(ws: JSON) -> str:
    """The field manager whose apply owns the WebStack's spec (the user's kubectl, Argo CD...): the plan's
    dry run applies the live spec as that manager, as the next apply of the same file would."""
    for entry in ws["metadata"].get("managedFields") or []:
        if entry.get("operation") == "Apply" and "f:spec" in (entry.get("fieldsV1") or {}):
            return str(entry.get("manager") or "kubectl")
    return "kubectl"


async def add_plan(client: KubeClient, bundle: Bundle, ws: JSON, environ: Mapping[str, str]) -> None:
    """What `kubectl webstack plan` prints for the live WebStack: its spec, applied again as it is."""
    from webstack_operator.cli.plan.actions import plan_json
    from webstack_operator.cli.plan.dry_run import plan_stacks
    from webstack_operator.cli.plan.view import plan_text
    from webstack_operator.config.run_options import load_settings

    metadata = ws["metadata"]
    doc = {
        "apiVersion": ws["apiVersion"],
        "kind": ws["kind"],
        "metadata": {k: metadata[k] for k in ("name", "namespace", "labels") if k in metadata},
        "spec": ws.get("spec") or {},
    }
    try:
        result = await plan_stacks(
            client, [doc], load_settings(environ), metadata["namespace"], applied_manager(ws)
        )
    except ApiError as e:
        bundle.refuse("the plan", why(e))
        return
    for error in result.errors:
        bundle.refuse("the plan", error)
    bundle.add_text("plan.txt", plan_text(result, color=False))
    bundle.add_text("plan.json", json.dumps(plan_json(result), indent=2, default=str) + "\n")

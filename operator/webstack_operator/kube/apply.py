"""The only module that changes the cluster: server-side apply, create-once, delete, status, Events.

Each function is one request (or two, for a create that lost a race) under the client's field manager (the
caller's identity, given to the client where it is made) unless the call names its own; deciding what to
send and remembering what was sent are the caller's jobs.
"""

from __future__ import annotations

from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.kube.jsondata import JSON


async def server_side_apply(
    client: KubeClient, resource: Resource, body: JSON, *, dry_run: bool, manager: str | None = None
) -> JSON:
    """Applies with force: the caller owns the fields it sets (other managers keep theirs). `manager`: a
    field manager other than the client's, e.g. a dry run as the user who applies the object would."""
    meta = body["metadata"]
    params = {"fieldManager": manager or client.field_manager, "force": "true"}
    if dry_run:
        params["dryRun"] = "All"
    return await client.request(
        "PATCH",
        resource.path(meta.get("namespace"), meta["name"]),
        body=body,
        params=params,
        content_type="application/apply-patch+yaml",
    )


async def create_once(client: KubeClient, resource: Resource, body: JSON) -> tuple[JSON, bool]:
    """Creates an object that must never be overwritten; (the object, whether we created it)."""
    meta = body["metadata"]
    try:
        created = await client.request(
            "POST",
            resource.path(meta.get("namespace")),
            body=body,
            params={"fieldManager": client.field_manager},
        )
    except ApiError as e:
        if e.status != 409:
            raise
        return await client.request("GET", resource.path(meta.get("namespace"), meta["name"])), False
    return created, True


async def delete_object(
    client: KubeClient,
    resource: Resource,
    namespace: str,
    name: str,
    uid: str,
    *,
    propagation: str = "Background",
) -> bool:
    """Deletes that very object (a UID precondition: never one re-created under the same name meanwhile),
    with background propagation (`Orphan`: what it owns stays, e.g. the Secret a SealedSecret made);
    whether it was deleted (gone or replaced already is not an error)."""
    try:
        await client.request(
            "DELETE",
            resource.path(namespace or None, name),
            body={
                "kind": "DeleteOptions",
                "apiVersion": "v1",
                "propagationPolicy": propagation,
                "preconditions": {"uid": uid},
            },
        )
    except ApiError as e:
        if e.status in (404, 409):  # 409: the precondition failed, the name holds another object now
            return False
        raise
    return True


async def get_object(client: KubeClient, resource: Resource, namespace: str, name: str) -> JSON | None:
    """The live object, or None when there is none."""
    try:
        found: JSON = await client.request("GET", resource.path(namespace or None, name))
    except ApiError as e:
        if e.status == 404:
            return None
        raise
    found.setdefault("apiVersion", resource.api_version)
    found.setdefault("kind", resource.kind)
    return found


async def merge_patch(
    client: KubeClient,
    resource: Resource,
    namespace: str,
    name: str,
    body: JSON,
    *,
    manager: str | None = None,
) -> JSON:
    """A JSON merge patch, for the few writes that are not the desired state: a Secret's owner references,
    a restart annotation, an action annotation consumed. A `metadata.resourceVersion` in `body` makes it
    conditional (409 when the object changed since it was read). `manager`: None for the client's own."""
    return await client.request(
        "PATCH",
        resource.path(namespace or None, name),
        body=body,
        params={"fieldManager": manager or client.field_manager},
        content_type="application/merge-patch+json",
    )


async def list_objects(
    client: KubeClient, resource: Resource, namespace: str | None, selector: str
) -> list[JSON]:
    path = resource.path(namespace) if namespace else resource.path()
    result = await client.list_all(path, {"labelSelector": selector})  # in pages
    items: list[JSON] = result.get("items", [])
    for item in items:  # list items omit apiVersion/kind
        item.setdefault("apiVersion", resource.api_version)
        item.setdefault("kind", resource.kind)
    return items


async def write_status(
    client: KubeClient, resource: Resource, namespace: str, name: str, status: JSON
) -> JSON:
    """Replaces status through the status subresource (a merge patch; conditions are written whole)."""
    return await client.request(
        "PATCH",
        resource.path(namespace, name) + "/status",
        body={"status": status},
        content_type="application/merge-patch+json",
    )


async def post_event(
    client: KubeClient,
    involved: JSON,
    etype: str,
    reason: str,
    message: str,
    *,
    now: str,
    instance: str,
    count: int = 1,
    first: str | None = None,
) -> JSON:
    """A core/v1 Event about `involved`: what `kubectl describe` and `kubectl get events` show. `count`
    occurrences since `first` (events.EventRecorder aggregates repeats into one Event). The reporting
    component is the client's field manager: the name the caller writes under."""
    meta = involved["metadata"]
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
        "involvedObject": {
            "apiVersion": involved.get("apiVersion", ""),
            "kind": involved.get("kind", ""),
            "name": meta["name"],
            "namespace": meta["namespace"],
            "uid": meta.get("uid", ""),
        },
        "type": etype,
        "reason": reason,
        "message": message[:1024],
        "source": {"component": client.field_manager},
        "reportingComponent": client.field_manager,
        "reportingInstance": instance,
        "firstTimestamp": first or now,
        "lastTimestamp": now,
        "count": count,
    }
    return await client.request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", body=event)

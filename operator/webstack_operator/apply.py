"""The only module that changes the cluster: server-side apply, create-once, prune, delete, status.

Every write goes through here so that field ownership (manager `webstack-operator`), the desired-hash
stamp and the drift bookkeeping are decided in one place.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from webstack_operator.kubeapi import JSON, ApiError, KubeClient, Resource

FIELD_MANAGER = "webstack-operator"
DESIRED_HASH = "webstack.dev/desired-hash"
APPLY_POLICY = "webstack.dev/apply-policy"
CREATE_ONLY = "create-only"
REPORTING_INSTANCE = os.environ.get("HOSTNAME", "local")

ObjectKey = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" when cluster-scoped), name


class Action(StrEnum):
    CREATED = "Created"
    UPDATED = "Updated"
    UNCHANGED = "Unchanged"
    DRIFT_CORRECTED = "DriftCorrected"
    RECREATED = "Recreated"  # drift too: someone deleted it


@dataclass(frozen=True)
class Applied:
    """What we last wrote for one object: enough to tell our own writes from someone else's."""

    desired_hash: str
    fields_hash: str
    resource_version: str
    uid: str


def key_of(obj: JSON) -> ObjectKey:
    meta = obj["metadata"]
    return (obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"])


def desired_hash(obj: JSON) -> str:
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:20]


def our_fields_hash(obj: JSON) -> str:
    """Hash of the fields our manager owns: another writer taking any of them changes it."""
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == FIELD_MANAGER and entry.get("operation") == "Apply":
            return hashlib.sha256(json.dumps(entry.get("fieldsV1"), sort_keys=True).encode()).hexdigest()[:20]
    return ""


def stamped(obj: JSON) -> tuple[JSON, str]:
    """The object with its desired-hash annotation, so a later reader knows which spec produced it."""
    h = desired_hash(obj)
    meta = dict(obj["metadata"])
    meta["annotations"] = {**meta.get("annotations", {}), DESIRED_HASH: h}
    return {**obj, "metadata": meta}, h


def is_create_only(obj: JSON) -> bool:
    return bool(obj.get("metadata", {}).get("annotations", {}).get(APPLY_POLICY) == CREATE_ONLY)


def unchanged_since(applied: Applied | None, observed: JSON | None, h: str) -> bool:
    """True when nothing needs writing: same desired spec, and nobody took any of our fields since."""
    if applied is None or observed is None or applied.desired_hash != h:
        return False
    annotations = observed["metadata"].get("annotations") or {}
    return annotations.get(DESIRED_HASH) == h and our_fields_hash(observed) == applied.fields_hash


def _resource_version(obj: JSON | None) -> str:
    return str((obj or {}).get("metadata", {}).get("resourceVersion", ""))


async def _server_side_apply(client: KubeClient, resource: Resource, body: JSON, *, dry_run: bool) -> JSON:
    meta = body["metadata"]
    params = {"fieldManager": FIELD_MANAGER, "force": "true"}
    if dry_run:
        params["dryRun"] = "All"
    return await client.request(
        "PATCH",
        resource.path(meta.get("namespace"), meta["name"]),
        body=body,
        params=params,
        content_type="application/apply-patch+yaml",
    )


async def dry_run_apply(client: KubeClient, resource: Resource, obj: JSON) -> None:
    """The apiserver's full validation and admission of one object, without persisting it."""
    await _server_side_apply(client, resource, stamped(obj)[0], dry_run=True)


async def apply_object(
    client: KubeClient,
    resource: Resource,
    obj: JSON,
    *,
    observed: JSON | None,
    applied: Applied | None,
    tombstoned: bool,
) -> tuple[Action, JSON, Applied]:
    """Server-side applies one object (force: we are its owner) and classifies what happened."""
    body, h = stamped(obj)
    if is_create_only(obj):
        return await _create_once(client, resource, body, h, observed)
    result = await _server_side_apply(client, resource, body, dry_run=False)
    record = Applied(h, our_fields_hash(result), _resource_version(result), result["metadata"]["uid"])
    previous_rv = applied.resource_version if applied else _resource_version(observed)
    previous_uid = applied.uid if applied else (observed or {}).get("metadata", {}).get("uid")
    if tombstoned:
        action = Action.RECREATED
    elif previous_uid is None or previous_uid != record.uid:
        action = Action.CREATED
    elif record.resource_version == previous_rv:
        action = Action.UNCHANGED
    else:
        prior_hash = (
            applied.desired_hash
            if applied
            else ((observed or {}).get("metadata", {}).get("annotations") or {}).get(DESIRED_HASH)
        )
        action = Action.DRIFT_CORRECTED if prior_hash == h else Action.UPDATED
    return action, result, record


async def _create_once(
    client: KubeClient, resource: Resource, body: JSON, h: str, observed: JSON | None
) -> tuple[Action, JSON, Applied]:
    """Generated credentials: created once and never overwritten, so a password never silently rotates."""
    meta = body["metadata"]
    existing = observed
    action = Action.UNCHANGED
    if existing is None:
        try:
            existing = await client.request(
                "POST",
                resource.path(meta.get("namespace")),
                body=body,
                params={"fieldManager": FIELD_MANAGER},
            )
            action = Action.CREATED
        except ApiError as e:
            if e.status != 409:
                raise
            existing = await client.request("GET", resource.path(meta.get("namespace"), meta["name"]))
    return action, existing, Applied(h, "", _resource_version(existing), existing["metadata"]["uid"])


async def delete_object(client: KubeClient, resource: Resource, namespace: str, name: str) -> bool:
    """Deletes with background propagation; an object already gone is not an error."""
    try:
        await client.request(
            "DELETE",
            resource.path(namespace or None, name),
            body={"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"},
        )
    except ApiError as e:
        if e.status == 404:
            return False
        raise
    return True


async def list_objects(
    client: KubeClient, resource: Resource, namespace: str | None, selector: str
) -> list[JSON]:
    path = resource.path(namespace) if namespace else resource.path()
    result = await client.request("GET", path, params={"labelSelector": selector})
    items: list[JSON] = result.get("items", [])
    for item in items:  # list items omit apiVersion/kind
        item.setdefault("apiVersion", resource.api_version)
        item.setdefault("kind", resource.kind)
    return items


async def write_status(
    client: KubeClient, resource: Resource, namespace: str, name: str, status: dict[str, Any]
) -> JSON:
    """Replaces status through the status subresource (a merge patch; conditions are written whole)."""
    return await client.request(
        "PATCH",
        resource.path(namespace, name) + "/status",
        body={"status": status},
        content_type="application/merge-patch+json",
    )


async def post_event(
    client: KubeClient, involved: JSON, etype: str, reason: str, message: str, now: str
) -> None:
    """A core/v1 Event about a WebStack: what `kubectl describe` and `kubectl get events` show."""
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
        "source": {"component": FIELD_MANAGER},
        "reportingComponent": FIELD_MANAGER,
        "reportingInstance": REPORTING_INSTANCE,
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    await client.request("POST", f"/api/v1/namespaces/{meta['namespace']}/events", body=event)

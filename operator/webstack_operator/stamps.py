"""How the operator recognises its own writes: object keys, the desired-hash stamp, our managed fields.

Pure. The apply layer stamps what it writes; the cache and the decisions read the stamps back, so an idle
reconcile can tell "nothing changed" without sending anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
ObjectKey = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" when cluster-scoped), name

FIELD_MANAGER = "webstack-operator"
DESIRED_HASH = "webstack.dev/desired-hash"


@dataclass(frozen=True, slots=True)
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


def where(obj: JSON) -> tuple[str, str]:
    """(namespace, name) of an object: where a request for it goes ("" namespace when cluster-scoped)."""
    return obj["metadata"].get("namespace", ""), obj["metadata"]["name"]


def resource_version(obj: JSON | None) -> str:
    return str((obj or {}).get("metadata", {}).get("resourceVersion", ""))


def newer_or_equal(obj: JSON, than: JSON | None) -> bool:
    """Whether `obj` is at least as new as `than` (a late, older watch event must not win)."""
    return _rv(obj) >= _rv(than)


def _rv(obj: JSON | None) -> int:
    try:
        return int(resource_version(obj) or 0)
    except ValueError:
        return 0

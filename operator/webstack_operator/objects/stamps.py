"""How the operator recognises its own writes: object keys, the desired-hash stamp, our managed fields.

Pure. The apply layer stamps what it writes; the cache and the decisions read the stamps back, so an idle
reconcile can tell "nothing changed" without sending anything.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Generic, TypeVar

from webstack_operator.kube.jsondata import JSON

ObjectKey = tuple[str, str, str, str]  # apiVersion, kind, namespace ("" when cluster-scoped), name

K = TypeVar("K")
RECENT = 8  # versions remembered per object: enough to recognise a late copy

DESIRED_HASH = "webstack.dev/desired-hash"

# The operator's identity, handed to every client it makes (the Kubernetes layer has none of its own).
# The field manager of every write the operator makes: how it tells its own managed fields from others'.
# Never change it: every object's managedFields would then look taken by someone else.
FIELD_MANAGER = "webstack-operator"
# Which process sent a request, in the API server's audit log; `run` adds the replica's identity.
USER_AGENT = "webstack-operator"


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


class ArrivalOrder(Generic[K]):
    """Which copy of an object to keep, decided by the order copies arrive in, never by comparing
    resourceVersions: the API conventions make them opaque (only equality means anything; after an etcd
    restore they may even go back).

    - The events of one watch (and the items of the list it resumes from) arrive in the order the changes
      happened: each replaces the one before.
    - A copy whose version the watch delivered before and has since moved past is a late copy (a body kopf
      hands a handler after newer events; a write's answer read after the watch reported a later change):
      it does not replace the newer one. The same version again is no change.
    - A write's answer with a version the watch has not delivered yet is kept. Should the watch then report
      an older change late, that copy is held only until the watch delivers the answer's own version, as it
      does before any later one.
    """

    def __init__(self) -> None:
        self._watched: dict[K, list[str]] = {}  # versions the watch delivered, oldest first, the last RECENT

    def watched(self, key: K, version: str) -> bool:
        """A watch event, a list item, or a body kopf handed over: whether it replaces the copy held."""
        if self._late(key, version):
            return False
        if version:
            recent = self._watched.setdefault(key, [])
            if not recent or recent[-1] != version:
                recent.append(version)
                del recent[:-RECENT]
        return True

    def listed(self, key: K, version: str) -> bool:
        """An item of a full list: the truth at the list's moment, and the watch resumes from there, so it
        replaces whatever is held and starts the key's history over."""
        self._watched[key] = [version] if version else []
        return True

    def answered(self, key: K, version: str) -> bool:
        """Our write's answer: whether it replaces the copy held."""
        return not self._late(key, version)

    def forget(self, key: K) -> None:
        self._watched.pop(key, None)

    def __len__(self) -> int:
        return len(self._watched)

    def _late(self, key: K, version: str) -> bool:
        recent = self._watched.get(key) or []
        return bool(version) and version in recent and recent[-1] != version

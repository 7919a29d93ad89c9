"""Whose object is this? The rules that keep the operator from taking, or deleting, what is not its own.

Pure. A child's name is predictable (`<stack>-backend`), so a user's own Service, a Secret from a script or
an object left by an earlier WebStack of the same name may already hold it. Server-side apply with force
would take any of them over and, through our owner reference, delete it later with the stack; so before a
write the reconcile asks `ownership` about whatever holds the name, and acts on the answer.
"""

from __future__ import annotations

from enum import StrEnum

from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.kinds import child_kind

ADOPT_ANNOTATION = "webstack.dev/adopt"  # "true" on a user's object: the stack may take it over
WEBSTACK_API_GROUP = "webstack.dev"


class Ownership(StrEnum):
    """Whose an object holding a child's name is: what decides whether the stack may write into it."""

    OURS = "Ours"  # this WebStack's (controller reference or stack-uid label)
    LEFTOVER = "Leftover"  # labelled for this stack, no controller: retained or orphaned by an earlier one
    DOOMED = "Doomed"  # controlled by an earlier WebStack of this name: garbage collection is deleting it
    ADOPTABLE = "Adoptable"  # someone else's, annotated to be adopted
    CONFLICT = "Conflict"  # someone else's: left alone


# Taken over on the next write: labelled for this stack without a controller, or annotated by the user.
ADOPTING = frozenset({Ownership.LEFTOVER, Ownership.ADOPTABLE})


def controller_of(obj: JSON) -> JSON | None:
    """The owner reference marked `controller`, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return dict(ref)
    return None


def labelled_for(obj: JSON, stack: tuple[str, str]) -> bool:
    """Carries the operator's labels for this stack (namespace, name)."""
    meta = obj.get("metadata", {})
    lbl = meta.get("labels") or {}
    namespace = lbl.get(labels.STACK_NAMESPACE) or meta.get("namespace", "")
    return (
        lbl.get(labels.MANAGED_BY) == labels.MANAGED_BY_VALUE
        and lbl.get(labels.INSTANCE) == stack[1]
        and namespace == stack[0]
    )


def is_webstack(ref: JSON) -> bool:
    """An owner reference to a WebStack (any version of our API group)."""
    return (
        ref.get("kind") == "WebStack"
        and str(ref.get("apiVersion", "")).partition("/")[0] == WEBSTACK_API_GROUP
    )


def is_webstack_named(ref: JSON, name: str) -> bool:
    return is_webstack(ref) and ref.get("name") == name


def lives_elsewhere(obj: JSON) -> bool:
    """A kind the stack writes outside its namespace (the Velero Schedule, and the Backups made from it),
    where no owner reference can point: its UID label says whose it is."""
    row = child_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    return row is not None and row.elsewhere


def belongs_to(obj: JSON, namespace: str, uid: str) -> bool:
    """Whether the object is the WebStack's with `uid` in `namespace`: in that namespace, controlled by it
    (an owner reference cannot point across namespaces); for a kind living elsewhere, labelled with its UID
    (in the one namespace it writes there: the cache and the finalizer look nowhere else). Labels naming
    the stack make nothing its own: anyone may write them, in any namespace."""
    meta = obj.get("metadata", {})
    if lives_elsewhere(obj):
        lbl = meta.get("labels") or {}
        return lbl.get(labels.STACK_UID) == uid and lbl.get(labels.STACK_NAMESPACE) == namespace
    controller = controller_of(obj)
    return meta.get("namespace") == namespace and controller is not None and controller.get("uid") == uid


def members(children: list[JSON], namespace: str, uid: str) -> list[JSON]:
    """Of the objects indexed under a stack's name, the WebStack's own (`belongs_to`) and what their own
    controllers made of them in its namespace (an AnalysisRun of its Rollout, a Secret of its SealedSecret):
    not an earlier WebStack's children being collected, not labelled objects nobody controls."""
    own = {id(o) for o in children if belongs_to(o, namespace, uid)}
    own_uids = {o["metadata"].get("uid") for o in children if id(o) in own} - {None}

    def made_by_own(o: JSON) -> bool:
        return o["metadata"].get("namespace") == namespace and (controller_of(o) or {}).get("uid") in own_uids

    return [o for o in children if id(o) in own or made_by_own(o)]


def ownership(obj: JSON, stack: tuple[str, str], uid: str) -> Ownership:
    """Whose an existing object holding a child's name is, for the WebStack `stack` with `uid`."""
    controller = controller_of(obj)
    if controller is not None:
        if controller.get("uid") == uid:
            return Ownership.OURS
        if is_webstack_named(controller, stack[1]) and obj["metadata"].get("namespace", stack[0]) == stack[0]:
            # Only one WebStack of a name exists at a time: one with another UID has been deleted.
            return Ownership.DOOMED
        return Ownership.CONFLICT  # another controller's (a ReplicaSet, a SealedSecret, another stack)
    if labelled_for(obj, stack):
        stack_uid = (obj["metadata"].get("labels") or {}).get(labels.STACK_UID)
        return Ownership.OURS if stack_uid == uid else Ownership.LEFTOVER
    annotations = obj.get("metadata", {}).get("annotations") or {}
    return Ownership.ADOPTABLE if annotations.get(ADOPT_ANNOTATION) == "true" else Ownership.CONFLICT


def conflict_message(kind: str, obj: JSON) -> str:
    """What a user reads in the condition and the Event: which object, why, and the ways out."""
    meta = obj["metadata"]
    where = f"{meta.get('namespace')}/{meta['name']}" if meta.get("namespace") else meta["name"]
    controller = controller_of(obj)
    held = (
        f"controlled by {controller.get('kind')} {controller.get('name')}"
        if controller
        else "not created by this WebStack"
    )
    return (
        f"{kind} {where} already exists and is {held}; left alone. Rename or delete it, or annotate it "
        f"{ADOPT_ANNOTATION}=true to hand it over to this stack"
    )


def adoption_refused_message(kind: str, obj: JSON, reason: str) -> str:
    """An object to adopt whose own fields cannot merge with the stack's (a port without a name...):
    what the apiserver said, and the way out."""
    meta = obj["metadata"]
    return (
        f"{kind} {meta.get('namespace')}/{meta['name']} is annotated {ADOPT_ANNOTATION}=true, but the "
        f"fields it already has do not merge with the stack's ({reason}); left alone. Delete it, and the "
        f"stack creates its own"
    )

"""What applying a WebStack would do to what runs: the per-object actions of `plan`, pure.

The dry run (dry_run.py) gathers, for each rendered object, the live object and the API server's answer to a
server-side dry-run apply of it with the operator's field manager; these functions turn that into one
action per object. The definitions (docs/architecture.md, "Plan: what a change will do"):

- create: no object holds the name (or an earlier WebStack's does, and garbage collection is removing it).
- update: a field the operator manages would get another value. Only the operator's managed fields are
  compared (its managedFields before and after the dry run), never what other controllers set.
- drift: the live object differs from what the operator last applied: a field the operator owns was taken
  by another manager (`kubectl edit`, `kubectl scale`...; reported even when the value is back), or the
  object was last applied from this very intent (its desired-hash annotation matches) and still would
  change. Applying restores it.
- unchanged: none of the above. Generated credentials are never patched, so they are unchanged once made.
- delete: a child the operator's prune would remove (`decisions.to_prune`, the operator's own selection).
- conflict: an object holding a child's name that the stack does not own (`ownership.ownership`); the
  operator leaves it alone and reports NameConflict.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from webstack_operator.kube import managed_fields
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.ownership import ADOPT_ANNOTATION, Ownership, conflict_message
from webstack_operator.objects.stamps import DESIRED_HASH, FIELD_MANAGER, desired_hash
from webstack_operator.reconcile.decisions import kept_as_created

FORMAT_VERSION = 1
HIDDEN = "(hidden)"
DRIFT_NOTE = "changed by someone else since applied"
KEPT_NOTE = "kept as created: a Job's pod template cannot change; what differs applies to its next run"
# The operator's own bookkeeping: it changes whenever anything else does, and says nothing by itself.
BOOKKEEPING = ("f:metadata", "f:annotations", f"f:{DESIRED_HASH}")
COMPONENT_ORDER = (
    labels.BACKEND,
    "migrate",
    labels.FRONTEND,
    labels.DATABASE,
    labels.CACHE,
    labels.INGRESS,
    labels.NETWORK,
    labels.MONITORING,
    labels.BACKUP,
)


class PlanAction(StrEnum):
    """What applying would do to one object (the definitions above); `plan --json` says it as `action`."""

    CREATE = "create"
    UPDATE = "update"
    DRIFT = "drift"
    DELETE = "delete"
    CONFLICT = "conflict"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class FieldChange:
    """One managed field: its value now and after the apply (`managed_fields.MISSING`: absent); `taken_by`:
    the manager that holds a field the operator owned (drift)."""

    path: str
    before: Any
    after: Any
    taken_by: str = ""


@dataclass(frozen=True)
class ObjectPlan:
    action: PlanAction
    api_version: str
    kind: str
    namespace: str
    name: str
    component: str
    fields: tuple[FieldChange, ...] = ()
    message: str = ""


@dataclass(frozen=True)
class StackPlan:
    namespace: str
    name: str
    exists: bool
    objects: tuple[ObjectPlan, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def changes(self) -> bool:
        return any(o.action is not PlanAction.UNCHANGED for o in self.objects)

    def summary(self) -> dict[str, int]:
        counts = dict.fromkeys((a.value for a in PlanAction), 0)
        for o in self.objects:
            counts[o.action.value] += 1
        return counts


@dataclass(frozen=True)
class PlanResult:
    stacks: tuple[StackPlan, ...] = ()
    errors: tuple[str, ...] = field(default_factory=tuple)

    @property
    def changes(self) -> bool:
        return any(s.changes for s in self.stacks)


def exit_code(result: PlanResult) -> int:
    """As `terraform plan -detailed-exitcode`: 1 error, 2 changes (conflicts included), 0 none."""
    if result.errors:
        return 1
    return 2 if result.changes else 0


def component_of(obj: JSON) -> str:
    return str((obj.get("metadata", {}).get("labels") or {}).get(labels.COMPONENT) or "other")


def _identity(obj: JSON) -> tuple[str, str, str, str, str]:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace", ""), meta["name"], component_of(obj)


def taken_fields(
    live: JSON, after: JSON, manager: str = FIELD_MANAGER
) -> dict[managed_fields.FieldPath, str]:
    """Fields the operator would own after the apply but that another manager holds instead, now: someone
    changed what the operator set (a manager that only shares a field with the operator takes nothing)."""
    ours_now = managed_fields.manager_fields(live, manager)
    if not ours_now:
        return {}  # never applied by the operator (adopted, or created once): nothing was taken from it
    others = managed_fields.other_managers(live, manager)
    taken = {}
    for path in managed_fields.leaves(managed_fields.manager_fields(after, manager)):
        if (
            managed_fields.owns(ours_now, path)
            or managed_fields.value_at(live, path) is managed_fields.MISSING
        ):
            continue
        holders = [name for name, tree in others if managed_fields.owns(tree, path)]
        if holders:
            taken[path] = ", ".join(holders)
    return taken


def field_changes(
    live: JSON, after: JSON, manager: str = FIELD_MANAGER
) -> tuple[list[FieldChange], dict[managed_fields.FieldPath, str]]:
    """The operator's managed fields that differ between the live object and its dry-run re-apply (what it
    owns now and what it would own then), and the fields taken from it."""
    tree = managed_fields.merge(
        managed_fields.manager_fields(live, manager), managed_fields.manager_fields(after, manager)
    )
    taken = taken_fields(live, after, manager)
    secret = live.get("kind") == "Secret"
    changes, seen = [], set()
    for d in managed_fields.diff(tree, live, after):
        if d.path == BOOKKEEPING:
            continue
        seen.add(d.path)
        holder = next((who for path, who in taken.items() if d.path[: len(path)] == path), "")
        before, after_value = (_hide(d.before), _hide(d.after)) if secret else (d.before, d.after)
        changes.append(FieldChange(managed_fields.readable(d.path), before, after_value, holder))
    for path, who in taken.items():  # taken, with the value back as the operator set it: still drift
        if path not in seen:
            value = managed_fields.value_at(live, path)
            shown = _hide(value) if secret else value
            changes.append(FieldChange(managed_fields.readable(path), shown, shown, who))
    return changes, taken


def _hide(value: Any) -> Any:
    return value if value is managed_fields.MISSING else HIDDEN


def plan_object(
    desired: JSON, live: JSON | None, after: JSON | None, whose: Ownership | None, stack_name: str
) -> ObjectPlan:
    """One rendered object's action. `whose`: the ownership of the object holding its name (None when
    none does); `after`: the dry-run apply's answer (None for create-only objects, which are never patched,
    and for names the operator leaves alone)."""
    ident = _identity(desired)
    if live is None:
        return ObjectPlan(PlanAction.CREATE, *ident)
    if whose is Ownership.CONFLICT:
        return ObjectPlan(PlanAction.CONFLICT, *ident, message=conflict_message(desired["kind"], live))
    if whose is Ownership.DOOMED:
        note = f"replaces the object of an earlier WebStack {stack_name}, being garbage-collected"
        return ObjectPlan(PlanAction.CREATE, *ident, message=note)
    if after is None:
        live_hash = (live["metadata"].get("annotations") or {}).get(DESIRED_HASH)
        differs = kept_as_created(desired, whose) and live_hash != desired_hash(desired)
        return ObjectPlan(PlanAction.UNCHANGED, *ident, message=KEPT_NOTE if differs else "")
    changes, taken = field_changes(live, after)
    if whose in (Ownership.LEFTOVER, Ownership.ADOPTABLE):
        why = f"annotated {ADOPT_ANNOTATION}=true"
        if whose is Ownership.LEFTOVER:
            why = "labelled for this stack"
        return ObjectPlan(PlanAction.UPDATE, *ident, tuple(changes), message=f"taken over ({why})")
    live_hash = (live["metadata"].get("annotations") or {}).get(DESIRED_HASH)
    if taken or (changes and live_hash == desired_hash(desired)):
        return ObjectPlan(PlanAction.DRIFT, *ident, tuple(changes), message=DRIFT_NOTE)
    if changes:
        return ObjectPlan(PlanAction.UPDATE, *ident, tuple(changes))
    return ObjectPlan(PlanAction.UNCHANGED, *ident)


def plan_deletes(prunable: Iterable[JSON]) -> list[ObjectPlan]:
    return [ObjectPlan(PlanAction.DELETE, *_identity(o), message="no longer desired") for o in prunable]


def ordered(objects: Sequence[ObjectPlan]) -> list[tuple[str, list[ObjectPlan]]]:
    """Objects grouped by component, components in a fixed order (unknown ones after, by name); within a
    group the order given (the apply order, deletions last)."""
    groups: dict[str, list[ObjectPlan]] = {}
    for o in objects:
        groups.setdefault(o.component, []).append(o)
    return [(name, groups[name]) for name in sorted(groups, key=component_rank)]


def component_rank(name: str) -> tuple[int, str]:
    """Components in the order people think of a stack; unknown ones after, by name."""
    return (COMPONENT_ORDER.index(name) if name in COMPONENT_ORDER else len(COMPONENT_ORDER), name)


# ------------------------------------------------------------------------------------- the JSON shape
def _value(change: FieldChange) -> JSON:
    out: JSON = {"path": change.path}
    if change.before is not managed_fields.MISSING:
        out["before"] = change.before
    if change.after is not managed_fields.MISSING:
        out["after"] = change.after
    if change.taken_by:
        out["takenBy"] = change.taken_by
    return out


def object_json(o: ObjectPlan) -> JSON:
    out: JSON = {
        "action": o.action.value,
        "component": o.component,
        "apiVersion": o.api_version,
        "kind": o.kind,
        "namespace": o.namespace,
        "name": o.name,
        "fields": [_value(c) for c in o.fields],
    }
    if o.message:
        out["message"] = o.message
    return out


def plan_json(result: PlanResult) -> JSON:
    """The documented `-o json` shape (formatVersion 1); keys are only ever added."""
    return {
        "formatVersion": FORMAT_VERSION,
        "changes": result.changes,
        "exitCode": exit_code(result),
        "stacks": [
            {
                "namespace": s.namespace,
                "name": s.name,
                "exists": s.exists,
                "changes": s.changes,
                "summary": s.summary(),
                "notes": list(s.notes),
                "objects": [object_json(o) for o in s.objects],
            }
            for s in result.stacks
        ],
        "errors": list(result.errors),
    }

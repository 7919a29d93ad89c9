"""Managed fields read as paths: which fields a manager owns, what differs there, who else owns them.

Pure. The API server records, per field manager, the set of fields it owns (`metadata.managedFields`,
format FieldsV1: a tree whose keys are `f:<field>`, `k:<list item by its keys>`, `v:<set value>` and
`i:<index>`, and `.` for "this node itself"). A caller compares a live object with its server-side
dry-run re-apply only along its own manager's tree, so a field another controller sets (a Deployment's
revision annotation, an HPA's replicas) is never reported as a change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from webstack_operator.kube.jsondata import JSON

FieldsV1 = JSON
FieldPath = tuple[str, ...]  # FieldsV1 keys from the root, e.g. ("f:spec", "f:replicas")


class _Missing:
    def __repr__(self) -> str:
        return "<absent>"


MISSING: Any = _Missing()  # a field the object does not have (None is a value: JSON null)


@dataclass(frozen=True)
class FieldDiff:
    """One managed field whose value differs: `before` in the live object, `after` once re-applied."""

    path: FieldPath
    before: Any
    after: Any


def manager_fields(obj: JSON, manager: str) -> FieldsV1:
    """The fields `manager` owns through server-side apply on the object itself (not a subresource)."""
    tree: FieldsV1 = {}
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        ours = entry.get("manager") == manager and entry.get("operation") == "Apply"
        if ours and not entry.get("subresource"):
            tree = merge(tree, entry.get("fieldsV1") or {})
    return tree


def other_managers(obj: JSON, manager: str) -> list[tuple[str, FieldsV1]]:
    """Every other entry of managedFields: (a readable name, its fields)."""
    found = []
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        if entry.get("manager") == manager and entry.get("operation") == "Apply":
            continue
        name = str(entry.get("manager") or "unknown")
        if entry.get("subresource"):
            name += f" (/{entry['subresource']})"
        found.append((name, entry.get("fieldsV1") or {}))
    return found


def merge(a: FieldsV1, b: FieldsV1) -> FieldsV1:
    """The union of two field sets."""
    out = dict(a)
    for key, sub in b.items():
        out[key] = merge(out[key], sub) if key in out else sub
    return out


def owns(tree: FieldsV1, path: FieldPath) -> bool:
    """Whether the field set holds this path."""
    node = tree
    for key in path:
        if key not in node:
            return False
        node = node[key]
    return True


def leaves(tree: FieldsV1, prefix: FieldPath = ()) -> Iterator[FieldPath]:
    """Every path the tree ends at (a field owned whole)."""
    for key, sub in sorted(tree.items()):
        if key == ".":
            continue
        if any(k != "." for k in sub):
            yield from leaves(sub, (*prefix, key))
        else:
            yield (*prefix, key)


def step(value: Any, key: str) -> Any:
    """The child of `value` a FieldsV1 key names, or MISSING."""
    kind, _, rest = key.partition(":")
    if kind == "f":
        return value.get(rest, MISSING) if isinstance(value, dict) else MISSING
    if not isinstance(value, list):
        return MISSING
    if kind == "k":
        wanted = json.loads(rest)
        for item in value:
            if isinstance(item, dict) and all(item.get(k) == v for k, v in wanted.items()):
                return item
        return MISSING
    if kind == "v":
        wanted = json.loads(rest)
        return wanted if wanted in value else MISSING
    if kind == "i":
        index = int(rest)
        return value[index] if 0 <= index < len(value) else MISSING
    return MISSING


def value_at(obj: Any, path: FieldPath) -> Any:
    for key in path:
        obj = step(obj, key)
        if obj is MISSING:
            break
    return obj


def diff(tree: FieldsV1, before: Any, after: Any, prefix: FieldPath = ()) -> Iterator[FieldDiff]:
    """The fields of `tree` whose values differ between two versions of one object. Maps are followed
    down to their fields; a list item present in one version only is one difference, not one per field."""
    for key, sub in sorted(tree.items()):
        if key == ".":
            continue
        a, b = step(before, key), step(after, key)
        if a is MISSING and b is MISSING:
            continue
        path = (*prefix, key)
        whole_item = key[0] in "kvi" and (a is MISSING or b is MISSING)
        if any(k != "." for k in sub) and not whole_item and _container(a) and _container(b):
            yield from diff(sub, a, b, path)
        elif a != b:
            yield FieldDiff(path, a, b)


def _container(value: Any) -> bool:
    return value is MISSING or isinstance(value, dict | list)


def readable(path: FieldPath) -> str:
    """`spec.template.spec.containers[name=app].image`: a path as a person writes it."""
    out = ""
    for key in path:
        kind, _, rest = key.partition(":")
        if kind == "f":
            out += ("." if out else "") + rest
        elif kind == "k":
            keys = json.loads(rest)
            out += "[" + ",".join(f"{k}={v}" for k, v in keys.items()) + "]"
        elif kind == "v":
            out += f"[={rest}]"
        else:
            out += f"[{rest}]"
    return out

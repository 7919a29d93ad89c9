"""`plan` for people: one line per object that changes, grouped by component, field diffs under it.

Pure: text in, text out. Colour only when asked (the CLI asks when stdout is a terminal and NO_COLOR is
unset). Unchanged objects are counted, not listed: the output is what a change will do.
"""

from __future__ import annotations

import difflib
import json
from typing import Any

from webstack_operator.cli.plan.actions import (
    FieldChange,
    ObjectPlan,
    PlanAction,
    PlanResult,
    StackPlan,
    ordered,
)
from webstack_operator.kube import managed_fields

MARKS = {
    PlanAction.CREATE: ("+", "32"),  # green
    PlanAction.UPDATE: ("~", "33"),  # yellow
    PlanAction.DRIFT: ("!", "35"),  # magenta
    PlanAction.DELETE: ("-", "31"),  # red
    PlanAction.CONFLICT: ("x", "1;31"),  # bold red
    PlanAction.UNCHANGED: (" ", "2"),
}
SHORT_VALUE = 80
TEXT_DIFF_LINES = 8


def paint(text: str, code: str, color: bool) -> str:
    return f"\033[{code}m{text}\033[0m" if color else text


def show_value(value: Any) -> str:
    if value is managed_fields.MISSING:
        return "(absent)"
    text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    if len(text) > SHORT_VALUE or (isinstance(value, str) and "\n" in value):
        size = f"{value.count(chr(10)) + 1} lines" if isinstance(value, str) else f"{len(text)} chars"
        return f"({size})"
    return text


def _as_lines(value: Any) -> list[str]:
    if value is managed_fields.MISSING:
        return []
    if isinstance(value, str):
        return value.splitlines()
    return json.dumps(value, indent=2, sort_keys=True).splitlines()


def _long_diff(before: Any, after: Any) -> list[str]:
    """A few lines of unified diff when a value too long for one line changed (nginx.conf, a dashboard,
    a NetworkPolicy's rules): text line by line, structures as indented JSON."""
    if not (show_value(before).startswith("(") or show_value(after).startswith("(")):
        return []
    lines = list(difflib.unified_diff(_as_lines(before), _as_lines(after), lineterm="", n=0))[2:]
    body = [line for line in lines if not line.startswith("@@")]
    more = len(body) - TEXT_DIFF_LINES
    return body[:TEXT_DIFF_LINES] + ([f"... {more} more changed lines"] if more > 0 else [])


def field_lines(change: FieldChange, color: bool) -> list[str]:
    taken = f"  {paint(f'(changed by {change.taken_by})', '35', color)}" if change.taken_by else ""
    if change.before == change.after:
        return [f"{change.path}: {show_value(change.after)}{taken}"]
    head = f"{change.path}: {show_value(change.before)} -> {show_value(change.after)}{taken}"
    return [head, *(f"    {line}" for line in _long_diff(change.before, change.after))]


def object_lines(o: ObjectPlan, color: bool) -> list[str]:
    mark, code = MARKS[o.action]
    head = f"{paint(mark + ' ' + o.action.value.ljust(9), code, color)} {o.kind} {o.name}"
    if o.message:
        head += f"  {paint('(' + o.message + ')', '2', color)}"
    return [head, *(f"      {line}" for c in o.fields for line in field_lines(c, color))]


def summary_line(s: StackPlan) -> str:
    n = s.summary()
    return (
        f"{n['create']} to create, {n['update']} to update, {n['delete']} to delete, "
        f"{n['drift']} drifted, {n['conflict']} in conflict, {n['unchanged']} unchanged"
    )


def stack_text(s: StackPlan, color: bool) -> str:
    state = "" if s.exists else " (new)"
    lines = [paint(f"WebStack {s.namespace}/{s.name}{state}", "1", color)]
    lines += [f"  note: {note}" for note in s.notes]
    changed = [o for o in s.objects if o.action is not PlanAction.UNCHANGED]
    for component, objects in ordered([o for o in s.objects if o in changed or o.message]):
        lines.append(f"  {paint(component, '1', color)}")
        lines += [f"    {line}" for o in objects for line in object_lines(o, color)]
    if not changed and s.objects:
        lines.append(f"  No changes: {len(s.objects)} objects match the cluster.")
    elif not changed:
        lines.append("  No changes.")
    else:
        lines.append(f"  Plan: {summary_line(s)}.")
    return "\n".join(lines) + "\n"


def plan_text(result: PlanResult, color: bool = False) -> str:
    return "\n".join(stack_text(s, color) for s in result.stacks)

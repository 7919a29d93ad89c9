"""`status` for people: first the one thing that keeps a stack from Ready, then phase, conditions, children.

Pure: the WebStack and its children as read, and the time, in; text out. What blocks the stack is read
from what the operator wrote (`blocker`): a `status.blocker` when the operator writes one, otherwise the
first failing condition in dependency order (what is applied, then the data, then what uses it).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from webstack_operator.cli.plan.actions import component_of, component_rank
from webstack_operator.cli.plan.view import paint
from webstack_operator.kube.jsondata import JSON

# Conditions in the order one blocks the next; each with the component and child it speaks for.
BLOCKING = (
    ("Reconciled", "", "", ""),
    ("DatabaseReady", "database", "StatefulSet", "postgres"),
    ("CacheReady", "cache", "Deployment", "redis"),
    ("Migrated", "migrate", "Job", ""),
    ("BackendAvailable", "backend", "", "backend"),  # a Rollout or a Deployment
    ("FrontendAvailable", "frontend", "Deployment", "frontend"),
)
WORKLOADS = frozenset({"Deployment", "StatefulSet", "Rollout"})
# How the operator's one-line `status.blocker` names who blocks (its component labels), as components here.
BLOCKER_PREFIXES = {"Postgres": "database", "Redis": "cache", "migration": "migrate"}
COMPONENT_NAMES = {"database": "Postgres", "cache": "Redis"}  # what a person reads in the first line


@dataclass(frozen=True)
class Blocker:
    component: str
    child: str  # "StatefulSet shop-postgres", or "" when no single child is to blame
    reason: str
    message: str

    def line(self) -> str:
        name = COMPONENT_NAMES.get(self.component, self.component)
        who = " ".join(p for p in (name, f"({self.child})" if self.child else "") if p)
        return f"{who or 'stack'}: {self.reason}: {self.message}" if self.reason else f"{who}: {self.message}"


def is_ready(ws: JSON) -> bool:
    status = ws.get("status") or {}
    observed = status.get("observedGeneration") == ws["metadata"].get("generation")
    return bool(status.get("phase") == "Ready" and observed)


def blocker(ws: JSON, children: list[JSON] | None = None) -> Blocker | None:
    """The child and reason that keep the stack from Ready; None when it is Ready.

    The one place that reads the operator's own blocker: its one-line `status.blocker` (`<who>: <why>`, with
    `status.reason`) wins when present; otherwise the conditions say it."""
    if is_ready(ws):
        return None
    status = ws.get("status") or {}
    name = ws["metadata"]["name"]
    explicit = status.get("blocker")
    if isinstance(explicit, str) and explicit:  # `<who>: <why>`, written by the operator (status/compute.py)
        who, _, why = explicit.partition(": ")
        component = BLOCKER_PREFIXES.get(who, who)
        row = next((r for r in BLOCKING if r[1] == component), None)
        child = _child(children or [], name, component, row[2], row[3]) if row else ""
        return Blocker(component, child, str(status.get("reason", "")), why or explicit)
    if not status:
        return Blocker("", "", "NotReconciled", "the operator has not reported a status yet")
    conditions = {c.get("type"): c for c in status.get("conditions") or []}
    ready = conditions.get("Ready") or {}
    if ready.get("reason") == "InvalidSpec":
        return Blocker("spec", "", "InvalidSpec", str(ready.get("message", "")))
    for ctype, component, kind, suffix in BLOCKING:
        c = conditions.get(ctype)
        if c is None or c.get("status") == "True":
            continue
        child = _child(children or [], name, component, kind, suffix)
        return Blocker(component, child, str(c.get("reason", "")), str(c.get("message", "")))
    generation = ws["metadata"].get("generation")
    if status.get("observedGeneration") != generation:
        return Blocker("", "", "NotObserved", f"the operator has not reconciled generation {generation} yet")
    return Blocker("", "", str(ready.get("reason", status.get("phase", ""))), str(ready.get("message", "")))


def _child(children: list[JSON], name: str, component: str, kind: str, suffix: str) -> str:
    """The child a condition speaks for, as found among the children (by kind and name, or component)."""
    for o in children:
        if kind and o["kind"] != kind:
            continue
        if suffix and o["metadata"]["name"] == f"{name}-{suffix}" and (kind or o["kind"] in WORKLOADS):
            return f"{o['kind']} {o['metadata']['name']}"
        if not suffix and component_of(o) == component:
            return f"{o['kind']} {o['metadata']['name']}"
    if kind and suffix:
        return f"{kind} {name}-{suffix}"
    return ""


def age(created: str | None, now: datetime.datetime) -> str:
    if not created:
        return ""
    then = datetime.datetime.fromisoformat(created.replace("Z", "+00:00"))
    seconds = max(0, int((now - then).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size * (2 if unit != "m" else 1):
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def readiness(obj: JSON) -> str:
    """ready/desired where a child has a count: workloads, Jobs (succeeded), autoscalers (current)."""
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    kind = obj["kind"]
    if kind in WORKLOADS:
        ready = status.get("availableReplicas", status.get("readyReplicas", 0)) or 0
        return f"{ready}/{spec.get('replicas', 1)}"
    if kind == "Job":
        return f"{status.get('succeeded', 0) or 0}/{spec.get('completions', 1)}"
    if kind == "HorizontalPodAutoscaler":
        return f"{status.get('currentReplicas', 0)}/{status.get('desiredReplicas', 0)}"
    return ""


def image(obj: JSON) -> str:
    containers = ((obj.get("spec") or {}).get("template") or {}).get("spec", {}).get("containers") or []
    return str(containers[0].get("image", "")) if containers and obj["kind"] in WORKLOADS | {"Job"} else ""


def canary_line(ws: JSON, children: list[JSON]) -> str:
    """The canary's step and weight while a Rollout moves between versions."""
    conditions = {c.get("type"): c for c in (ws.get("status") or {}).get("conditions") or []}
    if (conditions.get("CanaryProgressing") or {}).get("status") != "True":
        return ""
    rollout = next((o for o in children if o["kind"] == "Rollout"), None)
    if rollout is None:
        return ""
    status = rollout.get("status") or {}
    steps = ((rollout.get("spec") or {}).get("strategy") or {}).get("canary", {}).get("steps") or []
    index = status.get("currentStepIndex")
    weight = (((status.get("canary") or {}).get("weights") or {}).get("canary") or {}).get("weight")
    if weight is None and index is not None:
        weights = [s["setWeight"] for s in steps[: int(index) + 1] if "setWeight" in s]
        weight = weights[-1] if weights else 0
    where = f"step {index}/{len(steps)}" if index is not None else "starting"
    return f"Canary: {where}, weight {weight if weight is not None else '?'}% ({status.get('phase', '')})"


def backup_line(ws: JSON) -> str:
    """The last backup, when backups are on and the operator reports one (nothing otherwise)."""
    if not ((ws.get("spec") or {}).get("backup") or {}).get("enabled"):
        return ""
    backup = (ws.get("status") or {}).get("backup")
    if not isinstance(backup, dict) or not backup:
        return ""
    return "Backup: " + ", ".join(f"{k} {v}" for k, v in backup.items() if not isinstance(v, dict | list))


def status_text(ws: JSON, children: list[JSON], now: datetime.datetime, color: bool = False) -> str:
    meta, status = ws["metadata"], ws.get("status") or {}
    found = blocker(ws, children)
    lines = []
    if found is None:
        lines.append(paint("Ready: nothing blocks this stack", "32", color))
    else:
        lines.append(paint(f"Blocked by {found.line()}", "1;31", color))
    phase = status.get("phase", "Unknown")
    head = f"WebStack {meta['namespace']}/{meta['name']}: {phase}"
    head += f" (generation {meta.get('generation')}, observed {status.get('observedGeneration', '-')})"
    if status.get("url"):
        head += f"  {status['url']}"
    lines.append(paint(head, "1", color))
    lines += [line for line in (canary_line(ws, children), backup_line(ws)) if line]
    conditions = status.get("conditions") or []
    if conditions:
        lines.append("Conditions:")
        width = max(len(c.get("type", "")) for c in conditions)
        for c in conditions:
            code = "32" if c.get("status") == "True" else "33"
            mark = paint(c.get("status", "").ljust(7), code, color)
            ctype, reason, message = c.get("type", ""), c.get("reason", ""), c.get("message", "")
            lines.append(f"  {ctype.ljust(width)}  {mark} {reason}: {message}")
    lines.append("Children:")
    lines += _tree(children, now)
    return "\n".join(lines) + "\n"


def _tree(children: list[JSON], now: datetime.datetime) -> list[str]:
    if not children:
        return ["  (none)"]
    rows = [(component_of(o), f"{o['kind']} {o['metadata']['name']}", o) for o in children]
    width = max(len(label) for _, label, _ in rows)
    groups: dict[str, list[tuple[str, JSON]]] = {}
    for component, label, o in rows:
        groups.setdefault(component, []).append((label, o))
    lines = []
    for component in sorted(groups, key=component_rank):
        lines.append(f"  {component}")
        members = groups[component]
        for i, (label, o) in enumerate(members):
            branch = "└─" if i == len(members) - 1 else "├─"
            created = age(o["metadata"].get("creationTimestamp"), now)
            cells = [label.ljust(width), readiness(o).rjust(5), created.rjust(4)]
            lines.append(f"  {branch} " + "  ".join([*cells, image(o)]).rstrip())
    return lines

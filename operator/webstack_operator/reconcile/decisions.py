"""Pure decisions of a reconcile: what to write, what to prune, what a write was, what to tell the user.

No I/O and no clock: the reconcile gathers what these need (the desired objects, the cache, the time) and
acts on their answers, so every rule here is a unit test away.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from enum import StrEnum

from webstack_operator.api.problem import Problem
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects.kinds import child_kind
from webstack_operator.objects.ownership import Ownership, belongs_to
from webstack_operator.objects.stamps import DESIRED_HASH, Applied, key_of, stamped
from webstack_operator.observe.cache import ChildCache, Seen, StackKey

FAILURES_BEFORE_REPORTING = 3
SKIP_CONDITIONS = ("MonitoringConfigured", "BackupConfigured", "CanaryProgressing")


class WriteOutcome(StrEnum):
    """What one write did: its Event says it, and the writes metric counts it (its `action` label, API)."""

    CREATED = "Created"
    UPDATED = "Updated"
    UNCHANGED = "Unchanged"
    DRIFT_CORRECTED = "DriftCorrected"
    RECREATED = "Recreated"  # drift too: someone deleted it
    ADOPTED = "Adopted"  # an existing object taken over (annotated, or left by an earlier stack)


@dataclass(frozen=True)
class Event:
    type: str  # Normal | Warning
    reason: str
    message: str


Tell = Callable[[JSON, Event], Awaitable[None]]  # post an Event on an object (the WebStack)


def is_create_only(obj: JSON) -> bool:
    """Generated credentials: created once, never patched, never pruned (a password never rotates)."""
    row = child_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    return row is not None and row.create_only


def kept_as_created(obj: JSON, whose: Ownership | None) -> bool:
    """A Job of ours is never patched: its pod template is immutable, so the apiserver would refuse a new
    placement (422). What it runs is in its name (builders/migrate.py): a new run is a new Job, and the old
    one is pruned. A leftover or annotated Job is still written once, to take it over."""
    row = child_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    return row is not None and row.write_once and whose is Ownership.OURS


def unchanged_since(applied: Applied | None, seen: Seen | None, h: str) -> bool:
    """True when nothing needs writing: same desired spec, and nobody took any of our fields since."""
    if applied is None or seen is None or applied.desired_hash != h:
        return False
    annotations = seen.obj["metadata"].get("annotations") or {}
    return annotations.get(DESIRED_HASH) == h and seen.fields_hash == applied.fields_hash


def to_write(
    desired: list[JSON], cache: ChildCache, stack: StackKey, served: Collection[tuple[str, str]]
) -> list[JSON]:
    """The desired objects that need a request: missing, changed since our last write, or taken from us.
    Kinds the cluster stopped serving since discovery are left for the next discovery to re-render."""
    pending = []
    for obj in desired:
        if (obj["apiVersion"], obj["kind"]) not in served:
            continue
        key = key_of(obj)
        seen = cache.get(key)
        if is_create_only(obj):
            if seen is None:
                pending.append(obj)
        elif not unchanged_since(cache.applied(stack, key), seen, stamped(obj)[1]):
            pending.append(obj)
    return pending


def prunable(obj: JSON, owner_uid: str, owner_namespace: str) -> bool:
    """Only what this WebStack controls: a Secret made by Sealed Secrets or External Secrets carries our
    labels (copied from its template) but belongs to that controller, and generated credentials are kept.
    Whose it is is judged by UID (`belongs_to`), never by labels: a look-alike in another namespace, or one
    left by an earlier WebStack of the same name, is not pruned."""
    row = child_kind(obj.get("apiVersion", ""), obj.get("kind", ""))
    if row is None or row.create_only or not row.rendered:
        return False
    return belongs_to(obj, owner_namespace, owner_uid)


def keeps_data(obj: JSON) -> bool:
    """A StatefulSet holds the database's volume claims: an edit lets it go, never deletes it
    (transitions.py)."""
    return obj.get("apiVersion") == "apps/v1" and obj.get("kind") == "StatefulSet"


def to_prune(children: list[JSON], desired: list[JSON], owner_uid: str, owner_namespace: str) -> list[JSON]:
    """Managed children no longer desired (monitoring turned off, Canary switched off...), except data."""
    wanted = {key_of(o) for o in desired}
    return [
        o
        for o in children
        if key_of(o) not in wanted and prunable(o, owner_uid, owner_namespace) and not keeps_data(o)
    ]


def classify(
    record: Applied, previous: Applied | None, seen: Seen | None, deleted_by_someone: bool
) -> WriteOutcome:
    """What one server-side apply did, from what we knew before it and what the apiserver answered."""
    if deleted_by_someone:
        return WriteOutcome.RECREATED
    before = seen.obj["metadata"] if seen else {}
    previous_uid = previous.uid if previous else before.get("uid")
    if previous_uid is None or previous_uid != record.uid:
        return WriteOutcome.CREATED
    previous_rv = previous.resource_version if previous else str(before.get("resourceVersion", ""))
    if record.resource_version == previous_rv:
        return WriteOutcome.UNCHANGED
    prior_hash = previous.desired_hash if previous else (before.get("annotations") or {}).get(DESIRED_HASH)
    return WriteOutcome.DRIFT_CORRECTED if prior_hash == record.desired_hash else WriteOutcome.UPDATED


def write_event(outcome: WriteOutcome, kind: str, name: str) -> Event | None:
    """Drift is a Warning (someone fights the operator); a planned write is Normal; no write, no Event."""
    if outcome is WriteOutcome.UNCHANGED:
        return None
    if outcome is WriteOutcome.RECREATED:
        return Event("Warning", "DriftCorrected", f"{kind} {name} was deleted; recreated it")
    if outcome is WriteOutcome.ADOPTED:
        return Event("Normal", "Adopted", f"{kind} {name} existed already; took it over")
    if outcome is WriteOutcome.DRIFT_CORRECTED:
        return Event("Warning", "DriftCorrected", f"{kind} {name} was changed by someone else; restored it")
    return Event("Normal", outcome.value, f"{kind} {name}")


def failure_to_report(attempt: int, status: int, message: str) -> Problem | None:
    """A blip is retried quietly; a failure that persists (RBAC, an unavailable API) is shown once, on
    the attempt that makes it persistent."""
    if attempt != FAILURES_BEFORE_REPORTING:
        return None
    return Problem("ApiError", f"{message} (HTTP {status}); retrying with backoff")


def invalid_spec_status(previous: JSON, message: str, generation: int, now: str) -> JSON:
    """A spec the schema let through but we cannot render: Failed, with where and why; the rest of the
    status (components, url) stays as it was, since nothing was changed."""
    old = {c.get("type"): c for c in previous.get("conditions") or []}
    kept = [c for c in previous.get("conditions") or [] if c.get("type") not in ("Ready", "Reconciled")]
    fresh = []
    for ctype in ("Ready", "Reconciled"):
        prior = old.get(ctype)
        since = prior.get("lastTransitionTime") if prior and prior.get("status") == "False" else None
        fresh.append(
            {
                "type": ctype,
                "status": "False",
                "reason": "InvalidSpec",
                "message": message[:1000],
                "lastTransitionTime": since or now,
                "observedGeneration": generation,
            }
        )
    return {**previous, "phase": "Failed", "observedGeneration": generation, "conditions": fresh + kept}


def refused(previous: JSON, generation: int) -> bool:
    """Whether status says this generation was found invalid (by us or by the apiserver). Status is the
    only memory a restart keeps, so a later reconcile of the same generation reads it here and checks the
    whole generation again before writing any of it, instead of trusting `observedGeneration`."""
    ready: JSON = next((c for c in previous.get("conditions") or [] if c.get("type") == "Ready"), {})
    return (
        previous.get("phase") == "Failed"
        and previous.get("observedGeneration") == generation
        and ready.get("reason") == "InvalidSpec"
    )


def announce_invalid(previous: JSON, generation: int) -> bool:
    """One InvalidSpec Event per generation, not one per reconcile."""
    return previous.get("phase") != "Failed" or previous.get("observedGeneration") != generation


def skip_warnings(previous: JSON, status: JSON) -> list[Event]:
    """One Warning Event when an optional API goes missing, not one per reconcile."""
    old = {c.get("type"): c for c in previous.get("conditions") or []}
    events = []
    for c in status.get("conditions", []):
        if c["type"] not in SKIP_CONDITIONS or not c["reason"].endswith("NotInstalled"):
            continue
        prior = old.get(c["type"])
        if prior is None or prior.get("reason") != c["reason"]:
            events.append(Event("Warning", c["reason"], c["message"]))
    return events


CANARY_EVENTS = {
    "CanaryInProgress": ("Normal", "CanaryStarted"),
    "CanaryAborted": ("Warning", "CanaryAborted"),
    "CanaryPromoted": ("Normal", "CanaryPromoted"),
}


def canary_events(previous: JSON, status: JSON) -> list[Event]:
    """One Event when a canary starts, is aborted or is promoted: when `CanaryProgressing` takes that
    reason, not on every reconcile that finds it so."""
    old = {c.get("type"): c for c in previous.get("conditions") or []}
    for c in status.get("conditions", []):
        if c["type"] != "CanaryProgressing" or c["reason"] not in CANARY_EVENTS:
            continue
        if (old.get(c["type"]) or {}).get("reason") == c["reason"]:
            return []
        kind, reason = CANARY_EVENTS[c["reason"]]
        return [Event(kind, reason, c["message"])]
    return []


def new_warnings(previous: JSON, reconciled: list[tuple[str, str]], database: Problem | None) -> list[Event]:
    """One Warning per problem that waits on the user (an object holding a child's name, a missing API,
    missing credentials) when it first appears, not one per reconcile: what the previous status already
    said is not said again."""
    old = {c.get("type"): c for c in previous.get("conditions") or []}
    said = str((old.get("Reconciled") or {}).get("message", ""))
    events = [Event("Warning", reason, message) for reason, message in reconciled if message not in said]
    if database is not None and (old.get("DatabaseReady") or {}).get("reason") != database.reason:
        events.append(Event("Warning", database.reason, database.message))
    return events


def prerequisite_warnings(previous: JSON, missing: Collection[Problem]) -> list[Event]:
    """One Warning per missing prerequisite when it first goes missing (prerequisites.py), not one per
    reconcile: what the previous `Prerequisites` condition already said is not said again."""
    before: JSON = next((c for c in previous.get("conditions") or [] if c.get("type") == "Prerequisites"), {})
    said = str(before.get("message", "")) if before.get("status") == "False" else ""
    return [Event("Warning", p.reason, p.message) for p in missing if p.message not in said]


def spec_error_message(problems: list[tuple[str, str]]) -> str:
    return "; ".join(f"{path}: {msg}" for path, msg in problems)

"""Transitions: what a spec edit does to a child it stops rendering, or replaces with another kind.

Pruning is right for what holds no data. Two kinds of child are not pruned like the rest:

- **Data and the credentials that open it** are orphaned, never deleted by an edit: the database StatefulSet
  (its claim would go with it under `whenDeleted: Delete`) is released from the stack, with
  `whenDeleted: Retain`, and keeps running; a generated credentials Secret no longer rendered loses our owner
  reference (under `Retain` it has none: it is marked let go all the same); a SealedSecret or ExternalSecret
  no longer rendered is deleted with `propagationPolicy: Orphan`, so the Secret its controller made stays.
  Data goes only when the WebStack itself is deleted under `deletionPolicy: Delete`. The apiserver already
  refuses the one edit that would do it under `Delete` (spec.MANAGED_TO_EXTERNAL_UNDER_DELETE); this is what
  happens under `Retain`, or in the edit that sets both.
- **The backend workload hands over**: a Deployment replaced by an Argo Rollout (or back) stays until the
  new one has as many available pods as it wants, so the backend never runs out of ready pods. At most one
  stack hands over at a time (`HandOverSlot`): a cluster gaining Argo Rollouts does not restart every stack
  at once.

Everything here is pure: the reconcile reads the cache, asks, and carries the answer out.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from webstack_operator.builders.context import StackContext
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.ownership import controller_of
from webstack_operator.objects.stamps import ObjectKey, key_of
from webstack_operator.observe.cache import pod_template_hashes
from webstack_operator.reconcile.decisions import Event, keeps_data, prunable

ORPHANED_FROM = labels.ORPHANED_FROM
GENERATED = "webstack.dev/generated"  # builders/secrets.py: the operator made this password
CLAIM_TEMPLATE = "data"  # builders/postgres.DATA_VOLUME: the claims are `data-<statefulset>-<ordinal>`
# Kinds whose controller makes the credentials Secret: deleting them must leave that Secret alone.
CREDENTIAL_SOURCES = frozenset(
    {("bitnami.com/v1alpha1", "SealedSecret"), ("external-secrets.io/v1", "ExternalSecret")}
)
BACKEND_KINDS = {"Deployment": "apps/v1", "Rollout": "argoproj.io/v1alpha1"}
HANDOVER_RECHECK_SECONDS = 2.0  # a hand-over in progress or waiting its turn looks again this often
HANDOVER_TURN_SECONDS = 300.0  # a stack that cannot finish its hand-over lets the next one start after this
# Between two stacks' hand-overs: the garbage collector removes the old workload's pods after its deletion.
HANDOVER_GAP_SECONDS = 2.0


# -- data: orphan, never delete
@dataclass(frozen=True)
class Prune:
    """What to do with the children a render no longer wants."""

    delete: list[tuple[JSON, str]] = field(default_factory=list)  # (object, propagationPolicy)
    orphan: list[JSON] = field(default_factory=list)  # released from the stack, kept as they are


def is_generated_secret(obj: JSON) -> bool:
    return obj.get("kind") == "Secret" and (obj["metadata"].get("annotations") or {}).get(GENERATED) == "true"


def plan_prune(
    children: list[JSON],
    desired: list[JSON],
    stack: tuple[str, str],
    owner_uid: str,
    keep: frozenset[ObjectKey],
) -> Prune:
    """Splits what `decisions.to_prune` would delete: data is orphaned, a credentials source is deleted
    without the Secret it made, and the generated database credentials, never pruned, are let go and said
    so."""
    wanted = {key_of(o) for o in desired}
    plan = Prune()
    for obj in children:
        key = key_of(obj)
        if key in wanted or key in keep or obj in orphans([obj], [], owner_uid):
            continue  # let go already
        if is_database_credentials(obj, stack[1]):
            plan.orphan.append(obj)  # create-only, never pruned; under Delete its owner reference would go
        elif not prunable(obj, owner_uid, stack[0]):
            continue
        elif keeps_data(obj):
            plan.orphan.append(obj)
        else:
            source = (obj["apiVersion"], obj["kind"]) in CREDENTIAL_SOURCES
            plan.delete.append((obj, "Orphan" if source else "Background"))
    return plan


def is_database_credentials(obj: JSON, stack_name: str) -> bool:
    """The database password the operator generated (`<stack>-postgres`); the cache's guards no data."""
    return is_generated_secret(obj) and obj["metadata"]["name"] == f"{stack_name}-postgres"


def _controlled_by(obj: JSON, uid: str) -> bool:
    ref = controller_of(obj)
    return ref is not None and ref.get("uid") == uid


def orphan_patch(obj: JSON, owner_uid: str) -> JSON:
    """The merge patch that lets an object go: our owner reference off (garbage collection no longer
    deletes it with the WebStack, prune no longer sees it), marked with who let it go, a StatefulSet's
    claims retained even when someone deletes it. Conditional on the version we decided on."""
    meta = obj["metadata"]
    refs = [r for r in meta.get("ownerReferences") or [] if r.get("uid") != owner_uid]
    patch: JSON = {
        "metadata": {
            "ownerReferences": refs or None,
            "annotations": {ORPHANED_FROM: owner_uid},
            "resourceVersion": meta.get("resourceVersion"),
        }
    }
    if keeps_data(obj):
        patch["spec"] = {
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Retain", "whenScaled": "Retain"}
        }
    return patch


def claim_names(obj: JSON) -> list[str]:
    """The volume claims a StatefulSet made: `<template>-<name>-<ordinal>`."""
    if not keeps_data(obj):
        return []
    replicas = (obj.get("spec") or {}).get("replicas")
    count = replicas if isinstance(replicas, int) and replicas > 0 else 1
    return [f"{CLAIM_TEMPLATE}-{obj['metadata']['name']}-{i}" for i in range(count)]


def orphans(children: list[JSON], desired: list[JSON], owner_uid: str) -> list[JSON]:
    """Objects this WebStack let go that still exist, and that it has not rendered again since."""
    wanted = {key_of(o) for o in desired}
    return [
        o
        for o in children
        if (o["metadata"].get("annotations") or {}).get(ORPHANED_FROM) == owner_uid
        and key_of(o) not in wanted
        and not _controlled_by(o, owner_uid)
    ]


def _names(namespace: str, objects: list[JSON]) -> tuple[str, str]:
    """A human list of the objects and their claims, and the commands that delete them by hand."""
    listed, commands = [], []
    for obj in sorted(objects, key=lambda o: (o["kind"] != "StatefulSet", o["metadata"]["name"])):
        name, claims = obj["metadata"]["name"], claim_names(obj)
        kind = obj["kind"]
        listed.append(f"{kind} {name}" + (f" (PVC {', '.join(claims)})" if claims else ""))
        commands.append(f"kubectl -n {shlex.quote(namespace)} delete {kind.lower()} {shlex.quote(name)}")
        commands += [f"kubectl -n {shlex.quote(namespace)} delete pvc {shlex.quote(c)}" for c in claims]
    return ", ".join(listed), "; ".join(commands)


def orphaned_message(namespace: str, objects: list[JSON]) -> str:
    listed, commands = _names(namespace, objects)
    return (
        f"the spec no longer renders {listed}: kept with their data and released from the stack "
        "(no longer updated, nor deleted with it). Migrate what you need, then delete them by hand: "
        f"{commands}"
    )


def orphan_event(namespace: str, objects: list[JSON]) -> Event:
    """One Warning, when the objects are let go: the user has something to clean up."""
    return Event("Warning", "Orphaned", orphaned_message(namespace, objects))


def orphaned_condition(
    previous: JSON, namespace: str, objects: list[JSON], generation: int, now: str
) -> JSON | None:
    """`Orphaned=True` while anything this stack let go still exists; absent otherwise."""
    if not objects:
        return None
    message = orphaned_message(namespace, objects)
    prior: JSON = next((c for c in previous.get("conditions") or [] if c.get("type") == "Orphaned"), {})
    since = prior.get("lastTransitionTime") if prior.get("status") == "True" else None
    return {
        "type": "Orphaned",
        "status": "True",
        "reason": "KeptData",
        "message": message[:1000],
        "lastTransitionTime": since or now,
        "observedGeneration": generation,
    }


# -- workloads: hand over, never swap
def backend_workloads(children: list[JSON], backend: str, owner_uid: str) -> dict[str, JSON]:
    """The stack's live backend workloads by kind (two only while a hand-over is in progress)."""
    return {
        o["kind"]: o
        for o in children
        if o["kind"] in BACKEND_KINDS
        and o.get("apiVersion") == BACKEND_KINDS[o["kind"]]
        and o["metadata"]["name"] == backend
        and _controlled_by(o, owner_uid)
    }


def switching_from(children: list[JSON], backend: str, owner_uid: str, wanted_kind: str) -> str | None:
    """The kind of the live backend a render of `wanted_kind` replaces (or is replacing), or None."""
    others = sorted(k for k in backend_workloads(children, backend, owner_uid) if k != wanted_kind)
    return others[0] if others else None


def available(workload: JSON) -> bool:
    """Every pod the workload wants is available, as its own controller last reported it (a Deployment's
    status only counts once it has seen the newest spec)."""
    spec, status = workload.get("spec") or {}, workload.get("status") or {}
    wanted = spec.get("replicas")
    wanted = wanted if isinstance(wanted, int) else 1
    if workload["kind"] == "Deployment":
        generation = workload["metadata"].get("generation")
        if generation is not None and status.get("observedGeneration") != generation:
            return False
    return int(status.get("availableReplicas") or 0) >= max(1, wanted)


def held_by_handover(
    children: list[JSON], desired: list[JSON], backend: str, owner_uid: str
) -> frozenset[ObjectKey]:
    """The old backend workload, kept out of prune until the new one (rendered and seen) is available."""
    new = next((o for o in desired if o["kind"] in BACKEND_KINDS and o["metadata"]["name"] == backend), None)
    if new is None:
        return frozenset()
    live = backend_workloads(children, backend, owner_uid)
    fresh = live.pop(new["kind"], None)
    # Back to a Deployment: the Rollout goes only once the stable Service no longer carries Argo's key,
    # i.e. selects the Deployment's pods too (Argo may put it back until its Rollout is gone).
    narrowed = new["kind"] == "Deployment" and backend in pod_template_hashes(children)
    if not live or (fresh is not None and available(fresh) and not narrowed):
        return frozenset()
    return frozenset(key_of(o) for o in live.values())


@dataclass
class HandOverSlot:
    """At most one stack hands its backend over at a time, across the operator: a cluster gaining (or
    losing) Argo Rollouts switches its Canary stacks one after the other, each only once the one before is
    done (or has held the turn for `HANDOVER_TURN_SECONDS` without finishing); the stacks waiting are woken
    (`wake`: the controller enqueues them) when it is released. No I/O: the caller passes the time."""

    holder: tuple[str, str] | None = None
    since: float = 0.0
    last: tuple[str, str] | None = None  # who finished last, and when: the next starts a gap later
    finished: float = float("-inf")
    waiting: set[tuple[str, str]] = field(default_factory=set)  # woken when the turn is released
    wake: Callable[[tuple[str, str], float], None] | None = None  # the controller's enqueue (stack, delay)

    def take(self, stack: tuple[str, str], now: float) -> tuple[str, str] | None:
        """Takes the turn for `stack`; returns who holds it (or just finished) when that is another stack:
        then wait."""
        if self.holder == stack:
            return None
        if self.holder is not None and now - self.since < HANDOVER_TURN_SECONDS:
            return self.holder
        if self.last not in (None, stack) and now - self.finished < HANDOVER_GAP_SECONDS:
            return self.last
        self.holder, self.since = stack, now
        self.waiting.discard(stack)
        return None

    def release(self, stack: tuple[str, str], now: float, *, handed_over: bool = True) -> None:
        """Also for a stack that does not hold the turn (a no-op then, but it no longer waits). The gap
        before the next hand-over follows only one that removed a workload (`handed_over`)."""
        if self.holder != stack:
            self.waiting.discard(stack)
            return
        self.holder = None
        if handed_over:
            self.last, self.finished = stack, now
        woken, self.waiting = sorted(self.waiting), set()
        if self.wake is not None:
            for waiter in woken:
                self.wake(waiter, HANDOVER_GAP_SECONDS)

    def wait_seconds(self, now: float) -> float:
        """How long a stack waiting its turn may wait before it could pass: the holder's turn running out,
        or the gap after the last hand-over. It is woken sooner when the turn is released."""
        if self.holder is not None:
            return max(HANDOVER_GAP_SECONDS, self.since + HANDOVER_TURN_SECONDS - now)
        return max(0.0, self.finished + HANDOVER_GAP_SECONDS - now) or HANDOVER_GAP_SECONDS


def take_turn(
    slot: HandOverSlot,
    stack: tuple[str, str],
    ctx: StackContext,
    children: list[JSON],
    owner_uid: str,
    now: float,
) -> tuple[StackContext, tuple[str, str] | None]:
    """The context to render, and who this stack waits for. A switch the cluster caused (Argo Rollouts
    installed or removed) waits for the turn and meanwhile renders the backend as before; a switch the
    user's own edit asked for goes ahead, taking the turn when it is free so that the cluster's wait."""
    if ctx.spec.paused:
        slot.release(stack, now, handed_over=False)  # renders and prunes nothing: it must not hold the turn
        return ctx, None
    wanted = "Rollout" if ctx.uses_rollout else "Deployment"
    old = switching_from(children, ctx.child("backend"), owner_uid, wanted)
    if old is None:
        return ctx, None
    caps = replace(ctx.settings.capabilities, argo_rollouts=old == "Rollout")
    before = replace(ctx, settings=replace(ctx.settings, capabilities=caps))
    holder = slot.take(stack, now)
    underway = any(  # both workloads live: finish it (after an operator restart too), never turn back
        o["kind"] == wanted for o in backend_workloads(children, ctx.child("backend"), owner_uid).values()
    )
    from_cluster = ("Rollout" if before.uses_rollout else "Deployment") == old
    if holder is not None and from_cluster and not underway:
        slot.waiting.add(stack)
        return before, holder
    return ctx, None


def gated(desired: list[JSON], gate_held: frozenset[ObjectKey]) -> bool:
    """The migration gate holds the backend workload this render wants: nothing of a hand-over can happen
    until its Job succeeded (running, or failed until the user acts), and the Job's events wake the stack."""
    return any(o["kind"] in BACKEND_KINDS and key_of(o) in gate_held for o in desired)


def step_aside(slot: HandOverSlot, stack: tuple[str, str], gated_now: bool, now: float) -> None:
    """A stack whose new workload the migration gate holds does not keep the turn from the others."""
    if slot.holder == stack and gated_now:
        slot.release(stack, now, handed_over=False)  # nothing was removed: no gap before the next


def after_prune(
    slot: HandOverSlot,
    stack: tuple[str, str],
    handing_over: frozenset[ObjectKey],
    waiting_for: tuple[str, str] | None,
    gated_now: bool,
    now: float,
) -> float | None:
    """When to look at the hand-over again (None: no need), releasing the turn once this stack hands nothing
    over that can progress: a waiter when the turn could pass (woken sooner on its release), a hand-over in
    progress every HANDOVER_RECHECK_SECONDS, one the migration gate holds never (its Job's events wake it)."""
    if waiting_for is not None:
        return slot.wait_seconds(now)
    if handing_over and not gated_now:
        return HANDOVER_RECHECK_SECONDS
    slot.release(stack, now)
    return None


def handover_condition(
    previous: JSON, waiting_for: tuple[str, str] | None, held: frozenset[ObjectKey], generation: int, now: str
) -> JSON | None:
    """`BackendHandOver=True` while the backend changes kind: waiting its turn, or the old workload serving
    until the new one is available. Absent otherwise."""
    if waiting_for is not None:
        reason = "WaitingForTurn"
        message = (
            "the backend's workload kind changes; waiting for "
            f"{waiting_for[0]}/{waiting_for[1]} to finish its hand-over first (one stack at a time): "
            "the current workload keeps serving"
        )
    elif held:
        old = ", ".join(f"{k[1]} {k[3]}" for k in sorted(held))
        reason, message = "InProgress", f"{old} keeps serving until the new backend workload is available"
    else:
        return None
    prior: JSON = next(
        (c for c in previous.get("conditions") or [] if c.get("type") == "BackendHandOver"), {}
    )
    since = prior.get("lastTransitionTime") if prior.get("status") == "True" else None
    return {
        "type": "BackendHandOver",
        "status": "True",
        "reason": reason,
        "message": message,
        "lastTransitionTime": since or now,
        "observedGeneration": generation,
    }


def conditions(
    body: JSON,
    ctx: StackContext,
    desired: list[JSON],
    children: list[JSON],
    waiting_for: tuple[str, str] | None,
    now: str,
) -> list[JSON]:
    """`Orphaned` and `BackendHandOver`, while they hold: added to what status.compute_status says."""
    previous, uid = body.get("status") or {}, body["metadata"]["uid"]
    generation = int(body["metadata"].get("generation") or 0)
    held = held_by_handover(children, desired, ctx.child("backend"), uid)
    kept = orphans(children, desired, uid)
    found = [
        orphaned_condition(previous, ctx.namespace, kept, generation, now),
        handover_condition(previous, waiting_for, held, generation, now),
    ]
    return [c for c in found if c is not None]

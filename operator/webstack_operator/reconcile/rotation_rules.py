"""The credentials rotation as a state machine: its state on the Secret, its next step, its condition.

Pure. A rotation moves the backend from the login role it uses to the other one of its pair (`webstack`
and `webstack_b`, both acting as the owner: users_api/rotation.py) with no moment when a backend pod's
password is refused:

1. Preparing: the new password is written under `next-*` keys of the credentials Secret, which only the
   prepare Job reads; it sets that password on the incoming role and logs in with it. The backend is
   untouched.
2. Rolling: the Secret's `username`/`password` become the incoming role's, the outgoing one's are kept
   under `previous-*`, and the backend rolls (surge and readiness: old pods serve until new ones are
   ready). Both passwords are valid all along.
3. Retiring: once no old backend pod is left, the retire Job waits for the old role's last connection to
   close (`pg_stat_activity`), removes its password and checks it is refused.

The state lives on the Secret itself (annotations, and the keys above), written together with the data it
describes, so an operator restart resumes where it was. A step that fails stops the rotation there: the
credentials the backend uses were never withdrawn, and the condition says why.
"""

from __future__ import annotations

import base64
import datetime
import re
from dataclasses import dataclass
from enum import StrEnum

from webstack_operator.builders.context import StackContext
from webstack_operator.builders.credentials_rotation import (
    EXIT_REASONS,
    NEXT_PASSWORD,
    NEXT_USERNAME,
    PREPARE,
    PREVIOUS_PASSWORD,
    PREVIOUS_USERNAME,
    RETIRE,
    rotation_job,
    rotation_job_name,
)
from webstack_operator.kube.jsondata import JSON
from webstack_operator.reconcile.credentials_rules import REGENERATED_FOR
from webstack_operator.status.readiness import workload_readiness

PHASE = "webstack.dev/rotation-phase"
REQUEST = "webstack.dev/rotation-request"
STARTED = "webstack.dev/rotation-started"
ROLLED = "webstack.dev/rotation-rolled"  # what the backend's roll must reach: `<kind>:<generation|time>`
ROTATED_AT = "webstack.dev/rotated-at"  # when the last rotation finished
SINCE = "webstack.dev/credentials-since"  # a schedule's start when the credentials were never rotated
FAILED = "webstack.dev/rotation-failed"  # why the last rotation stopped
CONDITION = "CredentialsRotated"
NO_BACKEND = "none"  # ROLLED when there was no backend to roll
_EXIT_CODE = re.compile(r"exit code (\d+)")


class RotationPhase(StrEnum):
    PREPARING = "Preparing"
    ROLLING = "Rolling"
    RETIRING = "Retiring"


@dataclass(frozen=True)
class RotationState:
    """What the credentials Secret says of the rotation (its annotations: the cache keeps no data)."""

    phase: RotationPhase | None = None
    request: str = ""
    started: str = ""
    rolled: str = ""
    rotated_at: str | None = None
    since: str | None = None
    failed: str | None = None

    @property
    def job_step(self) -> str | None:
        """The step whose Job runs now."""
        return (
            {RotationPhase.PREPARING: PREPARE, RotationPhase.RETIRING: RETIRE}.get(self.phase)
            if self.phase
            else None
        )

    @property
    def failed_step(self) -> str | None:
        """The step whose Job failed last, while no other rotation started: its Job is kept for its log."""
        if self.phase is not None or not self.failed or not self.request:
            return None
        return RETIRE if self.failed.startswith(RotationPhase.RETIRING.value) else PREPARE


def rotation_state(secret: JSON) -> RotationState:
    notes = secret["metadata"].get("annotations") or {}
    phase = str(notes.get(PHASE) or "")
    return RotationState(
        phase=RotationPhase(phase) if phase in {p.value for p in RotationPhase} else None,
        request=notes.get(REQUEST, ""),
        started=notes.get(STARTED, ""),
        rolled=notes.get(ROLLED, ""),
        rotated_at=notes.get(ROTATED_AT),
        since=notes.get(SINCE),
        failed=notes.get(FAILED),
    )


def credentials_secret_key(ctx: StackContext) -> tuple[str, str, str, str]:
    """The credentials Secret's cache key: looked up by name, since with `deletionPolicy: Retain` it has
    no owner reference and is not among the stack's children."""
    return ("v1", "Secret", ctx.namespace, ctx.credentials_secret)


def rotated_secret(ctx: StackContext, seen: JSON | None) -> JSON | None:
    """The Secret as the cache holds it, if it is one the operator rotates: generated, for a Managed
    database."""
    if not (ctx.database_managed and ctx.spec.database.credentials.generated):
        return None
    return seen


def rotation_jobs(ctx: StackContext, secret: JSON | None) -> list[JSON]:
    """The Job the rotation's current step needs (rendered with the stack, so it is pruned after it)."""
    state = rotation_state(secret) if secret is not None else RotationState()
    step = state.job_step or state.failed_step
    return [rotation_job(ctx, step, state.request)] if step else []


# -- the next step


class Action(StrEnum):
    WAIT = "wait"
    SWITCH = "switch"  # the Secret to the incoming role, then the roll
    ROLL = "roll"  # the roll again (the switch was written, the roll was not)
    RETIRE = "retire"
    FINISH = "finish"
    FAIL = "fail"


@dataclass(frozen=True)
class Next:
    action: Action
    why: str = ""  # FAIL: why; WAIT: what it waits for


def job_outcome(job: JSON | None) -> tuple[bool | None, str]:
    """(True, "") when it completed, (False, why) when it failed, (None, "") while it runs or is to come."""
    for condition in ((job or {}).get("status") or {}).get("conditions") or []:
        if condition.get("status") != "True":
            continue
        if condition.get("type") == "Complete":
            return True, ""
        if condition.get("type") == "Failed":
            message = str(condition.get("message") or condition.get("reason") or "")
            code = _EXIT_CODE.search(message)
            known = EXIT_REASONS.get(int(code.group(1))) if code else None
            if condition.get("reason") == "BackoffLimitExceeded":  # only exit 3 is retried: no answer
                known = f"{EXIT_REASONS[3]} ({message})"
            return False, known or message or "the Job failed with no reason given"
    return None, ""


def backend_rolled(workload: JSON | None, rolled: str) -> tuple[bool, str]:
    """Whether every backend pod was made after the switch and is available; or what is still going on."""
    if rolled == NO_BACKEND or workload is None:
        return True, "no backend runs"
    kind, _, mark = rolled.partition(":")
    if workload["kind"] != kind:  # replaced by another kind since: its pods started on the new Secret
        return True, f"the backend is a {workload['kind']} now"
    readiness = workload_readiness(workload)
    assert readiness is not None
    status = workload.get("status") or {}
    if kind == "Rollout":
        reached = str(status.get("restartedAt") or "") >= mark
    else:
        reached = int(workload["metadata"].get("generation") or 0) >= int(mark or 0)
        # No pod of the old template left, terminating ones included (they still hold connections).
        reached = reached and int(status.get("replicas") or 0) <= readiness.desired
        reached = reached and not status.get("terminatingReplicas")
    return reached and readiness.done, readiness.detail


def next_rotation_step(state: RotationState, job: JSON | None, workload: JSON | None) -> Next:
    if state.phase is None:
        return Next(Action.WAIT)
    if state.phase is RotationPhase.ROLLING:
        if not state.rolled:
            return Next(Action.ROLL)
        done, detail = backend_rolled(workload, state.rolled)
        return Next(Action.RETIRE) if done else Next(Action.WAIT, detail)
    ok, why = job_outcome(job)
    if ok is None:
        return Next(Action.WAIT)
    if not ok:
        return Next(Action.FAIL, why)
    return Next(Action.SWITCH if state.phase is RotationPhase.PREPARING else Action.FINISH)


# -- the Secret's patches (data base64-encoded, as the API has it)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def decoded(data: JSON, key: str) -> str:
    return base64.b64decode(data.get(key) or "").decode()


def standby_role(active: str) -> str:
    """The other role of the pair (users_api/rotation.py says the same)."""
    return active.removesuffix("_b") if active.endswith("_b") else f"{active}_b"


def start_patch(data: JSON, request: str, password: str, now: str) -> JSON:
    incoming = standby_role(decoded(data, "username"))
    notes = {PHASE: RotationPhase.PREPARING.value, REQUEST: request, STARTED: now, REGENERATED_FOR: request}
    return {
        "metadata": {"annotations": {**notes, FAILED: None, ROLLED: None}},
        "data": {NEXT_USERNAME: _b64(incoming), NEXT_PASSWORD: _b64(password)},
    }


def switch_patch(data: JSON) -> JSON:
    moved = {
        "username": data[NEXT_USERNAME],
        "password": data[NEXT_PASSWORD],
        PREVIOUS_USERNAME: data["username"],
        PREVIOUS_PASSWORD: data["password"],
        NEXT_USERNAME: None,
        NEXT_PASSWORD: None,
    }
    return {"metadata": {"annotations": {PHASE: RotationPhase.ROLLING.value, ROLLED: None}}, "data": moved}


def restart_time(now: str) -> str:
    """The switch's restart, one second after `now`: a restart asked for earlier in the same second (the
    cache password of the same request restarts the backend too) would otherwise be the same value, no new
    roll (a Deployment's template unchanged; a Rollout's pods made since counted as restarted), and pods
    that read the old Secret would stay."""
    later = datetime.datetime.fromisoformat(now.replace("Z", "+00:00")) + datetime.timedelta(seconds=1)
    return later.isoformat().replace("+00:00", "Z")


def rolled_patch(mark: str) -> JSON:
    return {"metadata": {"annotations": {ROLLED: mark}}}


def retire_patch() -> JSON:
    return {"metadata": {"annotations": {PHASE: RotationPhase.RETIRING.value}}}


def finish_patch(now: str) -> JSON:
    notes = {PHASE: None, ROLLED: None, ROTATED_AT: now}
    return {"metadata": {"annotations": notes}, "data": {PREVIOUS_USERNAME: None, PREVIOUS_PASSWORD: None}}


def fail_patch(state: RotationState, why: str) -> JSON:
    """Stops where it is: a failed prepare drops the new password (the backend never had it); a failed
    retire keeps the old one valid in the database (only the Secret forgets it)."""
    keys = (
        (NEXT_USERNAME, NEXT_PASSWORD)
        if state.phase is RotationPhase.PREPARING
        else (PREVIOUS_USERNAME, PREVIOUS_PASSWORD)
    )
    notes = {PHASE: None, ROLLED: None, FAILED: f"{state.phase}: {why}"}
    return {"metadata": {"annotations": notes}, "data": dict.fromkeys(keys)}


# -- the schedule (`spec.database.credentials.rotationPeriod`)

RETRY_AFTER_FAILURE_SECONDS = 3600  # a scheduled rotation that failed is tried again after this at most


def rotation_period_seconds(period: str) -> int:
    """`36h`, `30d` (the schema's pattern) in seconds."""
    return int(period[:-1]) * (86_400 if period.endswith("d") else 3_600)


def _epoch(rfc3339: str) -> float:
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def due(state: RotationState, period: str | None, now: float) -> bool:
    """Whether the schedule asks for a rotation now: one period after the last one (or after the schedule
    first saw the credentials); after a failed one, an hour after it started at most."""
    if period is None or state.phase is not None:
        return False
    wait = rotation_period_seconds(period)
    bases = [_epoch(t) for t in (state.rotated_at, state.since) if t]
    if state.failed and state.started:
        bases.append(_epoch(state.started) - wait + min(wait, RETRY_AFTER_FAILURE_SECONDS))
    return bool(bases) and now - max(bases) >= wait


# -- what status says


@dataclass(frozen=True)
class RotationVerdict:
    """The `CredentialsRotated` condition (True: the last one finished; None: one is under way; False:
    the last one failed) and `status.credentials`."""

    ok: bool | None
    reason: str
    message: str
    fields: JSON


def verdict(
    ctx: StackContext, state: RotationState, job: JSON | None, workload: JSON | None
) -> RotationVerdict | None:
    """None for credentials never rotated and no rotation asked for."""
    fields: JSON = {"lastRotationTime": state.rotated_at} if state.rotated_at else {}
    if state.phase is not None:
        rotation: JSON = {"phase": state.phase.value, "request": state.request}
        fields["rotation"] = rotation | ({"startedTime": state.started} if state.started else {})
        return RotationVerdict(None, state.phase.value, _progress(ctx, state, job, workload), fields)
    if state.failed:
        kept = "the credentials the backend uses were kept and still work"
        failed_job = rotation_job_name(ctx, state.failed_step or PREPARE, state.request)
        retry = f"read kubectl logs job/{failed_job}, then annotate the WebStack again to retry"
        return RotationVerdict(False, "RotationFailed", f"{state.failed}; {kept}; {retry}", fields)
    if state.rotated_at:
        message = f"the last rotation ({state.request or 'scheduled'}) finished at {state.rotated_at}"
        return RotationVerdict(True, "Rotated", message, fields)
    return None


def observed_verdict(ctx: StackContext, secret: JSON | None, children: list[JSON]) -> RotationVerdict | None:
    """The verdict on the Secret, the step's Job and the backend as the cache holds them."""
    if secret is None:
        return None
    state = rotation_state(secret)
    step = state.job_step
    job_name = rotation_job_name(ctx, step, state.request) if step else None
    job = next((o for o in children if o["kind"] == "Job" and o["metadata"]["name"] == job_name), None)
    backend = next(
        (
            o
            for o in children
            if o["kind"] in ("Deployment", "Rollout") and o["metadata"]["name"] == ctx.child("backend")
        ),
        None,
    )
    return verdict(ctx, state, job, backend)


def _progress(ctx: StackContext, state: RotationState, job: JSON | None, workload: JSON | None) -> str:
    if state.phase is RotationPhase.ROLLING:
        _, detail = backend_rolled(workload, state.rolled) if state.rolled else (False, "not yet restarted")
        return (
            f"the backend restarts onto the new credentials ({detail}); the old ones stay valid until no "
            "old pod is left"
        )
    step = state.job_step or PREPARE
    name = rotation_job_name(ctx, step, state.request)
    if state.phase is RotationPhase.PREPARING:
        return f"Job {name} sets the new password on the standby role and logs in with it; the backend waits"
    return f"Job {name} waits until no connection uses the old role, then removes its password"

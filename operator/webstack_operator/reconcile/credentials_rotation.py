"""The credentials rotation carried out: the Secret's writes, the backend's roll, the Events and metrics.

The steps and their rules are pure (`rotation_rules.py`); the Jobs render with the stack
(`rotation_rules.rotation_jobs`). Each reconcile takes at most one step, decided from the Secret, the Job
and the backend workload as the cache holds them, so every step is written (one patch of the Secret,
guarded by its resourceVersion) before the next is decided. The Secret's data is read only when a step
changes it: the cache keeps none.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from webstack_operator.builders.backend import backend_name
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.credentials_rotation import NEXT_USERNAME, rotation_job_name
from webstack_operator.kube.apply import get_object, merge_patch
from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects.stamps import resource_version
from webstack_operator.observe.cache import ChildCache
from webstack_operator.reconcile import rotation_rules as rules
from webstack_operator.reconcile.credentials_rules import (
    ACTIONS_MANAGER,
    REGENERATE_ANNOTATION,
    REGENERATED_FOR,
)
from webstack_operator.reconcile.decisions import Event, Tell
from webstack_operator.reconcile.restart_action import ROLLOUTS_API, restart_patch
from webstack_operator.telemetry import metrics


@dataclass
class CredentialsRotation:
    client: KubeClient
    cache: ChildCache
    tell: Tell  # an Event on the WebStack
    clock: Callable[[], str]  # now, RFC 3339

    async def start(self, owner: JSON, ctx: StackContext, request: str) -> None:
        """Begins a rotation for `request` (the regenerate annotation's value, or the schedule's); one
        already under way takes the request as its own."""
        secret = await self._secret(ctx)
        if secret is None:
            return
        state = rules.rotation_state(secret)
        if state.phase is not None:
            await self._patch(ctx, secret, {"metadata": {"annotations": {REGENERATED_FOR: request}}})
            message = (
                f"{REGENERATE_ANNOTATION}={request}: the rotation {state.request} is under way and serves it"
            )
            await self.tell(owner, Event("Normal", "CredentialsRotationUnderWay", message))
            return
        patch = rules.start_patch(secret["data"], request, secrets.token_urlsafe(24), self.clock())
        await self._patch(ctx, secret, patch)
        job = rotation_job_name(ctx, "prepare", request)
        message = (
            f"rotation {request}: Job {job} sets a new password on the standby role; the backend keeps its "
            "credentials until that one logs in"
        )
        await self.tell(owner, Event("Normal", "CredentialsRotationStarted", message))

    async def advance(self, owner: JSON, ctx: StackContext) -> bool:
        """Takes the rotation's next step, if one is due (starts a scheduled one); whether it took one. Our
        own writes wake no reconcile: the caller looks again soon, to render the step's Job and status."""
        cached = self.cache.get(rules.credentials_secret_key(ctx))
        seen = rules.rotated_secret(ctx, cached.obj if cached is not None else None)
        if seen is None:
            return False
        state = rules.rotation_state(seen)
        period = ctx.spec.database.credentials.rotation_period
        if state.phase is None:
            if period is not None and not (state.rotated_at or state.since):
                await self._patch(ctx, seen, {"metadata": {"annotations": {rules.SINCE: self.clock()}}})
            elif rules.due(state, period, time.time()):
                await self.start(owner, ctx, f"scheduled-{self.clock()}")
                return True
            return False
        job = self._job(ctx, state)
        step = rules.next_rotation_step(state, job, self._backend(ctx))
        if step.action is rules.Action.SWITCH:
            secret = await self._secret(ctx)
            if secret is not None and NEXT_USERNAME in secret.get("data", {}):
                await self._patch(ctx, secret, rules.switch_patch(secret["data"]))
                await self._roll(owner, ctx, state)
            elif secret is not None:  # someone edited the Secret meanwhile: nothing to switch to
                await self._fail(owner, ctx, secret, state, "the Secret no longer holds next-username")
        elif step.action is rules.Action.ROLL:
            await self._roll(owner, ctx, state)
        elif step.action is rules.Action.RETIRE:
            await self._patch(ctx, seen, rules.retire_patch())
        elif step.action is rules.Action.FINISH:
            await self._finish(owner, ctx, seen, state)
        elif step.action is rules.Action.FAIL:
            await self._fail(owner, ctx, seen, state, step.why)
        # A step just started (here or by the request this reconcile saw) renders its Job next time.
        return step.action is not rules.Action.WAIT or (state.job_step is not None and job is None)

    async def _roll(self, owner: JSON, ctx: StackContext, state: rules.RotationState) -> None:
        """Restarts the backend's pods (surge, readiness) and notes what the roll must reach."""
        mark, now = rules.NO_BACKEND, rules.restart_time(self.clock())
        for kind, api_version in (("Deployment", "apps/v1"), ("Rollout", ROLLOUTS_API)):
            resource = self.client.resource(api_version, kind)
            if (
                resource is None
                or self.cache.get((api_version, kind, ctx.namespace, backend_name(ctx))) is None
            ):
                continue
            try:
                rolled = await merge_patch(
                    self.client,
                    resource,
                    ctx.namespace,
                    backend_name(ctx),
                    restart_patch(kind, now),
                    manager=ACTIONS_MANAGER,
                )
            except ApiError as e:
                if e.status != 404:
                    raise
                continue
            mark = (
                f"Rollout:{now}"
                if kind == "Rollout"
                else f"Deployment:{rolled['metadata'].get('generation', 0)}"
            )
        secret = self.cache.get(rules.credentials_secret_key(ctx))
        if secret is not None:
            await self._patch(ctx, secret.obj, rules.rolled_patch(mark))
        message = (
            f"rotation {state.request}: the backend now reads the new credentials and restarts onto them; "
            "the old ones stay valid until no old pod is left"
        )
        await self.tell(owner, Event("Normal", "CredentialsSwitched", message))

    async def _finish(self, owner: JSON, ctx: StackContext, seen: JSON, state: rules.RotationState) -> None:
        now = self.clock()
        await self._patch(ctx, seen, rules.finish_patch(now))
        metrics.CREDENTIALS_ROTATIONS.labels(result="succeeded").inc()
        message = f"rotation {state.request}: finished; the old role's password is removed and refused"
        await self.tell(owner, Event("Normal", "CredentialsRotated", message))

    async def _fail(
        self, owner: JSON, ctx: StackContext, seen: JSON, state: rules.RotationState, why: str
    ) -> None:
        await self._patch(ctx, seen, rules.fail_patch(state, why))
        metrics.CREDENTIALS_ROTATIONS.labels(result="failed").inc()
        message = (
            f"rotation {state.request} stopped at {state.phase}: {why}; the credentials the backend uses "
            "were kept and still work"
        )
        await self.tell(owner, Event("Warning", "CredentialsRotationFailed", message))

    def _job(self, ctx: StackContext, state: rules.RotationState) -> JSON | None:
        step = state.job_step
        if step is None:
            return None
        seen = self.cache.get(("batch/v1", "Job", ctx.namespace, rotation_job_name(ctx, step, state.request)))
        return seen.obj if seen is not None else None

    def _backend(self, ctx: StackContext) -> JSON | None:
        for api_version, kind in (("apps/v1", "Deployment"), (ROLLOUTS_API, "Rollout")):
            seen = self.cache.get((api_version, kind, ctx.namespace, backend_name(ctx)))
            if seen is not None:
                return seen.obj
        return None

    async def _secret(self, ctx: StackContext) -> JSON | None:
        """The Secret with its data (read from the API: the cache keeps none)."""
        resource = self.client.resource("v1", "Secret")
        assert resource is not None, "core/v1 is always served"
        return await get_object(self.client, resource, ctx.namespace, ctx.credentials_secret)

    async def _patch(self, ctx: StackContext, seen: JSON, patch: JSON) -> None:
        """One step, written only over the Secret as it was read (a conflict: the next reconcile decides
        again from what is there)."""
        resource = self.client.resource("v1", "Secret")
        assert resource is not None, "core/v1 is always served"
        body = {**patch, "metadata": {**patch.get("metadata", {}), "resourceVersion": resource_version(seen)}}
        answer = await merge_patch(self.client, resource, ctx.namespace, ctx.credentials_secret, body)
        self.cache.upsert(answer, answer=True)

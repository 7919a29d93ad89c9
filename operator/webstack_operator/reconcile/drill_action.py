"""Restore drills, carried out: start one when due or asked for, follow it, record it, clean up after it.

A drill is asked for on demand with `webstack.dev/drill=<any new value>` on the WebStack (`kubectl webstack
drill NAME`), like the restart action (restart_action.py): the operator starts the drill and removes the
annotation. Scheduled drills start when `backup.drill.period` has passed since the last one (the periodic
resync looks; the first waits for a first dump). One drill at a time per stack.

The drill's state is in the cluster, so an operator restart loses nothing: the Job `<stack>-drill` carries
the run's id and start; a finished Job whose id differs from `status.backup.lastDrill.id` is recorded (its
restore pod's termination message holds the verdict, status/drills.py reads it), then the scratch namespace
is deleted. The finished Job stays, with its pod's log, until the next drill replaces it (its Secret, the
scratch password, goes with it). Only the objects of builders/drill.py are written here; pure decisions are in
status/drills.py.
"""

from __future__ import annotations

import datetime as dt
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from webstack_operator.api.backup_types import drill_period_seconds
from webstack_operator.builders import drill
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.dump import dump_name
from webstack_operator.kube.apply import (
    delete_object,
    get_object,
    list_objects,
    server_side_apply,
)
from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.cache import ChildCache, StackKey
from webstack_operator.reconcile.decisions import Event, Tell
from webstack_operator.reconcile.findings import Findings
from webstack_operator.reconcile.one_shot import consume_request
from webstack_operator.status.drills import drill_due, drill_record, parse_time
from webstack_operator.telemetry import metrics

log = logging.getLogger("webstack.drill")

DRILL_ANNOTATION = "webstack.dev/drill"  # on the WebStack: a one-shot request for a drill now
POLL_SECONDS = 5.0  # a running drill is looked at this often (its Job is none of the watched children)
DRILL_MANAGER = "webstack-operator-drill"


def drill_request(stack_body: JSON) -> str | None:
    value = (stack_body["metadata"].get("annotations") or {}).get(DRILL_ANNOTATION)
    return str(value) if value else None


def ran_drills(stack_body: JSON) -> bool:
    """Whether the stack may have a scratch namespace: drills on, or one asked for, or one recorded."""
    spec, status = stack_body.get("spec") or {}, stack_body.get("status") or {}
    enabled = ((spec.get("backup") or {}).get("drill") or {}).get("enabled") is True
    return enabled or drill_request(stack_body) is not None or "lastDrill" in (status.get("backup") or {})


def finished(job: JSON) -> bool:
    conditions = (job.get("status") or {}).get("conditions") or []
    return any(c.get("type") in ("Complete", "Failed") and c.get("status") == "True" for c in conditions)


def termination_message(pods: list[JSON]) -> str | None:
    """The restore container's termination message, from the newest pod that has one."""
    for pod in sorted(pods, key=lambda p: str(p["metadata"].get("creationTimestamp", "")), reverse=True):
        for status in (pod.get("status") or {}).get("containerStatuses") or []:
            message = ((status.get("state") or {}).get("terminated") or {}).get("message")
            if message:
                return str(message)
    return None


@dataclass
class DrillRuns:
    client: KubeClient
    cache: ChildCache
    tell: Tell  # an Event on the WebStack
    clock: Callable[[], str]  # now, RFC 3339
    running: set[StackKey] = field(default_factory=set)  # drills started or seen running: looked at often
    recorded: dict[StackKey, JSON] = field(default_factory=dict)  # records status has not shown yet

    def forget(self, stack: StackKey) -> None:
        self.running.discard(stack)
        self.recorded.pop(stack, None)
        metrics.forget_drill(stack)

    def last_drill(self, stack: StackKey, body: JSON, period: str) -> JSON | None:
        """The record status must hold: one just made, else the one status holds; sets the drill gauges."""
        previous = ((body.get("status") or {}).get("backup") or {}).get("lastDrill")
        new = self.recorded.get(stack)
        if new is not None and previous is not None and previous.get("id") == new.get("id"):
            del self.recorded[stack]  # written
        found: JSON | None = new or previous
        ended = parse_time((found or {}).get("time"))
        if found is not None and ended is not None:
            passed = found.get("result") == "Succeeded"
            rpo, rto = (found.get("rpoSeconds"), found.get("rtoSeconds")) if passed else (None, None)
            metrics.record_drill(stack, drill_period_seconds(period), passed, ended.timestamp(), rpo, rto)
        return found

    async def step(self, stack: StackKey, owner: JSON, ctx: StackContext, found: Findings) -> JSON | None:
        """One look at the stack's drill; the WebStack as written when a request was consumed, else None."""
        spec, request = ctx.spec, drill_request(owner)
        last = self.last_drill(stack, owner, spec.backup.drill.period)
        cronjob = self.cache.get(("batch/v1", "CronJob", ctx.namespace, dump_name(ctx)))
        dumped = ((cronjob.obj.get("status") or {}) if cronjob else {}).get("lastSuccessfulTime")
        now = self.clock()
        due = drill_due(spec, last, dumped, dt.datetime.fromisoformat(now.replace("Z", "+00:00")))
        if not (request or due or stack in self.running):
            return None
        if request and (not spec.backup.enabled or spec.backup.dump is None):
            message = f"{DRILL_ANNOTATION}={request}: a drill restores backup.dump, which this stack has not"
            await self.tell(owner, Event("Warning", "DrillRefused", message))
            return await self._consume(stack)
        jobs = self._resource("batch/v1", "Job")
        job = await get_object(self.client, jobs, ctx.namespace, drill.drill_job_name(ctx))
        annotations = (job or {}).get("metadata", {}).get("annotations") or {}
        if job is not None and not finished(job):
            self.running.add(stack)
            found.later(POLL_SECONDS, "a restore drill is running")
            return None
        if job is not None and annotations.get(drill.DRILL_ID) != (last or {}).get("id"):
            await self._record(stack, owner, ctx, job)
            if request or due:  # a request that came meanwhile: the next drill, once this record is written
                found.later(POLL_SECONDS, "a restore drill was asked for while the last one ran")
            return None
        self.running.discard(stack)
        if not (request or due):
            return None
        if job is not None:  # the last drill's record: replaced by this one
            await delete_object(
                self.client, jobs, ctx.namespace, job["metadata"]["name"], job["metadata"]["uid"]
            )
            found.later(1.0, "the last drill's Job is being deleted")
            return None
        namespaces = self._resource("v1", "Namespace")
        scratch = await get_object(self.client, namespaces, "", drill.scratch_namespace(ctx))
        if scratch is not None:  # the last drill's, still terminating (or left by a crash: deleted now)
            await self._delete_scratch(ctx)
            found.later(POLL_SECONDS, "the last drill's scratch namespace is being deleted")
            return None
        run = drill.DrillRun(request or f"scheduled-{now}", now, secrets.token_urlsafe(24))
        await self._start(stack, owner, ctx, run)
        found.later(POLL_SECONDS, "a restore drill is running")
        return await self._consume(stack) if request else None

    async def _start(self, stack: StackKey, owner: JSON, ctx: StackContext, run: drill.DrillRun) -> None:
        try:
            for obj in drill.scratch_objects(ctx, run):
                await self._apply(obj)
            await self._apply(drill.client_secret(ctx, run, await self._apply(drill.drill_job(ctx, run))))
        except ApiError as e:  # e.g. no right to create namespaces (a namespaced install): say so, clean up
            if e.transient:
                raise
            log.warning("restore drill %s could not start: %s", run.id, e.message)
            record = {"id": run.id, "result": "Failed", "reason": "StartFailed", "time": run.started}
            self.recorded[stack] = {
                **record,
                "started": run.started,
                "message": f"cannot start: {e.message}"[:1024],
            }
            await self.tell(owner, Event("Warning", "DrillFailed", self.recorded[stack]["message"]))
            await self._delete_scratch(ctx)
            return
        self.running.add(stack)
        where = drill.scratch_namespace(ctx)
        message = f"restore drill {run.id}: the newest dump into a scratch Postgres in namespace {where}"
        await self.tell(owner, Event("Normal", "DrillStarted", message))

    async def _record(self, stack: StackKey, owner: JSON, ctx: StackContext, job: JSON) -> None:
        meta = job["metadata"]
        pods = await list_objects(
            self.client,
            self._resource("v1", "Pod"),
            ctx.namespace,
            f"batch.kubernetes.io/job-name={meta['name']}",
        )
        annotations = meta.get("annotations") or {}
        record = drill_record(
            job,
            termination_message(pods),
            str(annotations.get(drill.DRILL_ID, "")),
            str(annotations.get(drill.DRILL_STARTED, meta.get("creationTimestamp", ""))),
            self.clock(),
        )
        self.recorded[stack] = record
        self.running.discard(stack)
        await self._delete_scratch(ctx)
        passed = record["result"] == "Succeeded"
        text = f"restore drill {record['id']}: {record['reason']}: {record.get('message', '')}"
        if passed:
            text += f" (RPO {record.get('rpoSeconds')}s, RTO {record.get('rtoSeconds')}s)"
        await self.tell(
            owner,
            Event("Normal" if passed else "Warning", "DrillSucceeded" if passed else "DrillFailed", text),
        )
        log.info("restore drill recorded", extra={"result": record["result"], "reason": record["reason"]})

    async def _apply(self, obj: JSON) -> JSON:
        resource = self._resource(obj["apiVersion"], obj["kind"])
        return await server_side_apply(self.client, resource, obj, dry_run=False, manager=DRILL_MANAGER)

    async def _delete_scratch(self, ctx: StackContext) -> None:
        """The scratch namespace: everything restored goes with it (the client's Secret goes with its Job)."""
        resource, name = self._resource("v1", "Namespace"), drill.scratch_namespace(ctx)
        live = await get_object(self.client, resource, "", name)
        if live is not None and not live["metadata"].get("deletionTimestamp"):
            await delete_object(self.client, resource, "", name, live["metadata"]["uid"])

    async def _consume(self, stack: StackKey) -> JSON:
        return await consume_request(self.client, stack, DRILL_ANNOTATION)

    def _resource(self, api_version: str, kind: str) -> Resource:
        resource = self.client.resource(api_version, kind)
        assert resource is not None, f"{kind} is always served"
        return resource

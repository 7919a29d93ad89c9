"""One idempotent reconcile of one WebStack: render, apply, prune, observe, write status.

It reads children from the cache the watches fill (never lists), and an idle reconcile sends nothing: an
object is written only when its desired content changed, someone took one of the fields we own, or it is
missing. The decisions are in `decisions.py`; this module only gathers their inputs and carries them out,
and `stack_status.py` turns what it observed into the status it writes.
"""

from __future__ import annotations

import datetime
import logging
import time
from dataclasses import dataclass, field

from webstack_operator.api.group_version import API_VERSION, KIND
from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import SpecError
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.config.run_options import OperatorConfig
from webstack_operator.kube.apply import (
    get_object,
    server_side_apply,
    write_status,
)
from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.kube.events import EventRecorder
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects.ownership import ADOPTING, Ownership, adoption_refused_message, ownership
from webstack_operator.objects.stamps import (
    Applied,
    ArrivalOrder,
    key_of,
    our_fields_hash,
    resource_version,
    stamped,
    where,
)
from webstack_operator.observe.cache import ChildCache, StackKey
from webstack_operator.observe.dependents import DependentsCache
from webstack_operator.observe.prerequisites import ClusterObjects, PrerequisiteCheck, check, references
from webstack_operator.reconcile import migration_gate, prune, transitions
from webstack_operator.reconcile.credentials_keeper import CredentialsKeeper
from webstack_operator.reconcile.credentials_rules import credentials_source_missing
from webstack_operator.reconcile.decisions import (
    Event,
    WriteOutcome,
    announce_invalid,
    canary_events,
    classify,
    failure_to_report,
    invalid_spec_status,
    is_create_only,
    kept_as_created,
    new_warnings,
    prerequisite_warnings,
    refused,
    skip_warnings,
    spec_error_message,
    to_write,
    write_event,
)
from webstack_operator.reconcile.drill_action import DrillRuns
from webstack_operator.reconcile.findings import Findings
from webstack_operator.reconcile.outcomes import Requeue, Retry
from webstack_operator.reconcile.rendering import Rendered, render
from webstack_operator.reconcile.restart_action import BackendRestarts
from webstack_operator.reconcile.stack_status import stack_status
from webstack_operator.status.compute import status_changed, status_patch
from webstack_operator.telemetry import metrics
from webstack_operator.telemetry.logs import bind_stack

log = logging.getLogger("webstack.reconcile")

# Statuses a retry may fix even though they are not transient: RBAC being granted, a CRD being installed,
# a conflicting write finishing.
RETRIED_STATUSES = frozenset({401, 403, 404, 409})


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Reconciler:
    client: KubeClient
    config: OperatorConfig
    cache: ChildCache
    capabilities: Capabilities = field(default_factory=Capabilities)
    served: frozenset[tuple[str, str]] = frozenset()  # (apiVersion, kind) the cluster serves
    bodies: dict[StackKey, JSON] = field(default_factory=dict)  # the newest body of every WebStack
    dependents: DependentsCache = field(default_factory=DependentsCache)  # pod, claim problems; creates
    cluster_objects: ClusterObjects = field(default_factory=ClusterObjects)  # what specs may name
    keeper: CredentialsKeeper = field(init=False)
    restarts: BackendRestarts = field(init=False)
    drills: DrillRuns = field(init=False)
    handovers: transitions.HandOverSlot = field(default_factory=transitions.HandOverSlot)
    events: EventRecorder = field(init=False)  # aggregated: one write per object, reason and minute
    _order: ArrivalOrder[StackKey] = field(init=False, default_factory=ArrivalOrder)  # newer: by arrival

    def __post_init__(self) -> None:
        self.events = EventRecorder(self.client, self.config.instance)
        self.keeper = CredentialsKeeper(self.client, self.cache, self.tell, self._announce_write, now_rfc3339)
        self.restarts = BackendRestarts(self.client, self.cache, self.tell, now_rfc3339)
        self.drills = DrillRuns(self.client, self.cache, self.tell, now_rfc3339)

    def remember(self, body: JSON, *, answer: bool = False) -> StackKey:
        """Keeps the newest body seen (a handler's may be older than the last event's; `answer`: our own
        write's, see stamps.ArrivalOrder), without the managed fields nobody here reads."""
        meta = body["metadata"]
        stack = (meta["namespace"], meta["name"])
        newer = (self._order.answered if answer else self._order.watched)(stack, resource_version(body))
        if newer or stack not in self.bodies:
            self.bodies[stack] = {**body, "metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
        return stack

    def forget(self, stack: StackKey) -> None:
        self.bodies.pop(stack, None)
        self._order.forget(stack)
        metrics.PHASES.drop(stack)
        self.drills.forget(stack)
        self.handovers.release(stack, time.monotonic())

    def _tracked(self, stack: StackKey, body: JSON) -> bool:
        """Still this WebStack: neither deleted (forgotten) nor replaced under its name since `body`."""
        return bool(self.bodies.get(stack, {}).get("metadata", {}).get("uid") == body["metadata"]["uid"])

    async def reconcile(self, stack: StackKey, attempt: int = 1) -> str:
        """The recipe, measured; returns the phase written. Raises Retry for what a retry may fix, Requeue
        when the stack waits on the world (a name held by someone else, a garbage collection)."""
        body = self.bodies.get(stack)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return metrics.PHASES.get(stack)
        started, result = time.monotonic(), "error"
        with bind_stack(*stack):
            try:
                phase = await self._recipe(stack, body, attempt)
                result = {"Failed": "invalid_spec", "Paused": "paused"}.get(phase, "success")
                return phase
            except Requeue:
                result = "waiting"
                raise
            finally:
                metrics.RECONCILES.labels(result=result).inc()
                metrics.RECONCILE_DURATION.observe(time.monotonic() - started)
                metrics.LAST_RECONCILE.set_to_current_time()

    async def _recipe(self, stack: StackKey, body: JSON, attempt: int) -> str:
        previous = body.get("status") or {}
        try:
            rendered = render(
                stack,
                body,
                self.config.settings,
                self.capabilities,
                self.cache,
                self.handovers,
                time.monotonic(),
            )
        except SpecError as e:
            return await self._write_invalid(stack, body, e)
        if rendered.spec.paused:
            return await self._finish(stack, body, rendered, problem=None)
        found = Findings(missing_apis=credentials_source_missing(rendered.spec, self.capabilities))
        # Said before anything is written, and not holding it back: the apiserver accepts the workloads.
        needed = references(rendered.spec, stack[0], self.capabilities)
        prerequisites = check(needed, self.cluster_objects.exists)
        for event in prerequisite_warnings(previous, prerequisites.missing):
            await self.tell(body, event)
        was_refused = refused(previous, _generation(body))  # checked whole again: nothing of it is written
        try:
            spec_changed = previous.get("observedGeneration") != _generation(body)
            await self._apply(stack, body, rendered, found, validate_first=spec_changed or was_refused)
            await self._prune(stack, body, rendered, found)
            if await self.keeper.rotation.advance(body, rendered.ctx):
                found.next_step_soon("credentials rotation")
            for consumed in (
                await self.keeper.consume(stack, body, rendered.desired),
                await self.restarts.consume(stack, body, rendered.ctx),
                await self.drills.step(stack, body, rendered.ctx, found),
            ):
                if consumed is not None and self._tracked(stack, consumed):
                    self.remember(consumed, answer=True)
        except ApiError as e:
            metrics.API_ERRORS.labels(status=str(e.status)).inc()
            if not (e.transient or e.status in RETRIED_STATUSES):
                # The apiserver refused an object the spec produced; nothing was written (validate_first).
                return await self._write_invalid(stack, body, SpecError([("spec", e.message)]))
            if not was_refused:  # its status is the refusal's only memory: a retry must not replace it
                await self._report_failure(stack, body, rendered, attempt, e, prerequisites)
            raise Retry(str(e), delay=e.retry_after) from e
        for event in new_warnings(previous, found.waiting_on_user(), found.database):
            await self.tell(body, event)
        failed_migration = migration_gate.event(previous, rendered.gate.verdict)  # migration: once per Job
        if failed_migration is not None:
            await self.tell(body, failed_migration)
        phase = await self._finish(
            stack,
            body,
            rendered,
            problem=found.problem(),
            database_problem=found.database,
            prerequisites=prerequisites,
        )
        if found.recheck is not None:
            raise Requeue(found.summary(), delay=found.recheck)
        return phase

    # -- apply
    async def _apply(
        self, stack: StackKey, owner: JSON, rendered: Rendered, found: Findings, *, validate_first: bool
    ) -> None:
        """Writes what needs writing, but only into names that are free or this stack's own."""
        uid = owner["metadata"]["uid"]
        pending: list[tuple[JSON, Resource, JSON | None, Ownership | None]] = []
        held: list[JSON] = []  # migration: not written before its Job completed, but checked with the rest
        for obj in to_write(rendered.desired, self.cache, stack, self.served):
            if key_of(obj) in rendered.gate.held:
                held.append(obj)
                continue
            resource = self._resource(obj)
            seen = self.cache.get(key_of(obj))
            live = seen.obj if seen else await get_object(self.client, resource, *where(obj))
            whose = None if live is None else ownership(live, stack, uid)
            if live is not None and not found.allows(obj["kind"], live, whose):
                continue
            if kept_as_created(obj, whose):
                continue
            adopting = whose in ADOPTING and not is_create_only(obj)
            if adopting and not await self._adoptable(obj, resource, found):
                continue
            pending.append((obj, resource, live, whose))
        checked = [o for o, *_ in pending if not is_create_only(o)] + held
        if validate_first and len(pending) + len(held) > 1:
            # A new spec is checked whole by the apiserver before anything is written: no half-applied stack.
            for obj in checked:
                await server_side_apply(self.client, self._resource(obj), stamped(obj)[0], dry_run=True)
        for obj, resource, live, whose in pending:
            if is_create_only(obj):
                await self.keeper.create(stack, owner, rendered.ctx, obj, resource, live, found)
            elif self.keeper.database_waits(stack, uid, rendered.ctx, rendered.desired, obj):
                continue  # the credentials' own path says why and when to look again
            else:
                await self._write(stack, owner, obj, resource, adopting=whose in ADOPTING)
        for obj in rendered.desired:
            seen = self.cache.get(key_of(obj)) if is_create_only(obj) else None
            if seen is not None and found.allows(obj["kind"], seen.obj, ownership(seen.obj, stack, uid)):
                await self.keeper.settle(owner, rendered.ctx, obj, self._resource(obj), seen.obj)

    async def _adoptable(self, obj: JSON, resource: Resource, found: Findings) -> bool:
        """An object to adopt keeps the fields its own managers set that the stack does not render
        (server-side apply merges); if the merge is invalid, the user learns why rather than InvalidSpec."""
        try:
            await server_side_apply(self.client, resource, stamped(obj)[0], dry_run=True)
        except ApiError as e:
            if e.transient or e.status in RETRIED_STATUSES:
                raise
            found.refuse_adoption(adoption_refused_message(obj["kind"], obj, e.message))
            return False
        return True

    async def _write(
        self, stack: StackKey, owner: JSON, obj: JSON, resource: Resource, *, adopting: bool = False
    ) -> None:
        key = key_of(obj)
        body, h = stamped(obj)
        # What we knew before the write: the watch may report its result while the request is in flight.
        previous, seen = self.cache.applied(stack, key), self.cache.get(key)
        deleted_by_someone = self.cache.deleted_by_someone(stack, key)
        result = await server_side_apply(self.client, resource, body, dry_run=False)
        meta = result["metadata"]
        record = Applied(h, our_fields_hash(result), str(meta.get("resourceVersion", "")), meta["uid"])
        outcome = WriteOutcome.ADOPTED if adopting else classify(record, previous, seen, deleted_by_someone)
        self.cache.wrote(stack, result, record)
        await self._announce_write(owner, obj, outcome)

    async def _announce_write(self, owner: JSON, obj: JSON, outcome: WriteOutcome) -> None:
        event = write_event(outcome, obj["kind"], obj["metadata"]["name"])
        if event is not None:
            metrics.OBJECT_WRITES.labels(action=outcome.value, kind=obj["kind"]).inc()
            if outcome in (WriteOutcome.DRIFT_CORRECTED, WriteOutcome.RECREATED):
                metrics.DRIFT_CORRECTIONS.labels(kind=obj["kind"]).inc()
            await self.tell(owner, event)

    def _resource(self, obj: JSON) -> Resource:
        resource = self.client.resource(obj["apiVersion"], obj["kind"])
        assert resource is not None, "to_write keeps only served kinds"
        return resource

    # -- prune
    async def _prune(self, stack: StackKey, owner: JSON, rendered: Rendered, found: Findings) -> None:
        """Deletes what is no longer desired, except what a transition keeps (transitions.py): data and
        credentials are let go instead, an old backend workload stays until the new one is available."""
        meta, children = owner["metadata"], prune.candidates(self.cache, stack, owner["metadata"]["uid"])
        backend = rendered.ctx.child("backend")
        handing_over = transitions.held_by_handover(children, rendered.desired, backend, meta["uid"])
        turn = (stack, handing_over, rendered.waiting_for, rendered.gated, time.monotonic())
        if (recheck := transitions.after_prune(self.handovers, *turn)) is not None:
            found.later(recheck)
        # migration: the running backend stays until the new one may roll out
        keep = rendered.gate.held | handing_over
        plan = transitions.plan_prune(children, rendered.desired, stack, meta["uid"], keep)
        await prune.carry_out(self.client, self.cache, stack, owner, plan, self.tell)

    # -- status
    async def _finish(
        self,
        stack: StackKey,
        body: JSON,
        rendered: Rendered,
        *,
        problem: Problem | None,
        database_problem: Problem | None = None,
        prerequisites: PrerequisiteCheck | None = None,
    ) -> str:
        uid = body["metadata"]["uid"]
        # An earlier WebStack's children, still being collected, are not this one's components.
        children = [o for o in self.cache.children(stack) if ownership(o, stack, uid) is not Ownership.DOOMED]
        status = stack_status(
            stack,
            body,
            rendered,
            children,
            self.cache.released(stack),
            self.dependents,
            now_rfc3339,
            problem=problem,
            database_problem=database_problem,
            prerequisites=prerequisites,
            last_drill=self.drills.last_drill(stack, body, rendered.spec.backup.drill.period),
        )
        await self._write_status(stack, body, status)
        return str(status["phase"])

    async def _write_invalid(self, stack: StackKey, body: JSON, error: SpecError) -> str:
        """A spec we cannot render: say where, change nothing, hold no turn; one Warning per generation."""
        self.handovers.release(stack, time.monotonic(), handed_over=False)
        previous, generation = body.get("status") or {}, _generation(body)
        message = spec_error_message(error.problems)
        if announce_invalid(previous, generation):
            await self.tell(body, Event("Warning", "InvalidSpec", message))
        status = invalid_spec_status(previous, message, generation, now_rfc3339())
        await self._write_status(stack, body, status)
        return "Failed"

    async def _report_failure(
        self,
        stack: StackKey,
        body: JSON,
        rendered: Rendered,
        attempt: int,
        error: ApiError,
        prerequisites: PrerequisiteCheck | None = None,
    ) -> None:
        problem = failure_to_report(attempt, error.status, error.message)
        if problem is None:
            return
        await self.tell(body, Event("Warning", "ReconcileFailed", problem.message))
        try:
            await self._finish(stack, body, rendered, problem=problem, prerequisites=prerequisites)
        except (ApiError, Retry) as e:
            log.warning("could not report the failure in status: %s", e)

    async def _write_status(self, stack: StackKey, body: JSON, status: JSON) -> None:
        """Not for a stack deleted meanwhile: no write, and neither its phase gauge nor its body come back."""
        if not self._tracked(stack, body):
            return
        previous = body.get("status") or {}
        metrics.PHASES.set(stack, str(status["phase"]))
        for event in [*skip_warnings(previous, status), *canary_events(previous, status)]:
            await self.tell(body, event)
        if not status_changed(previous, status):
            return
        resource = self.client.resource(API_VERSION, KIND)
        assert resource is not None, "the WebStack CRD is served"
        try:
            result = await write_status(
                self.client, resource, stack[0], stack[1], status_patch(previous, status)
            )
        except ApiError as e:
            if e.status == 404:
                return  # deleted meanwhile
            metrics.API_ERRORS.labels(status=str(e.status)).inc()
            raise Retry(str(e), delay=e.retry_after) from e
        if self._tracked(stack, result):  # the write may have been in flight when the stack went
            self.remember(result, answer=True)

    async def tell(self, involved: JSON, event: Event) -> None:
        """Events inform; failing to post one must never fail a reconcile."""
        try:
            involved = {"apiVersion": API_VERSION, "kind": KIND, **involved}
            await self.events.record(involved, event.type, event.reason, event.message, now=now_rfc3339())
        except ApiError as e:
            metrics.API_ERRORS.labels(status=str(e.status)).inc()
            log.warning("could not post event %s: %s", event.reason, e)


def _generation(body: JSON) -> int:
    return int(body["metadata"].get("generation") or 0)

"""One idempotent reconcile per WebStack, serialized per stack, fed by kopf's events.

Children are watched by kopf (by the managed-by label) into an in-memory cache, so a reconcile reads what
exists without listing, and an idle reconcile sends nothing: an object is written only when its desired
content changed, or when someone else took one of the fields we own, deleted it, or it is missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import secrets
import time
from dataclasses import dataclass, field, replace

from webstack_operator import labels, metrics
from webstack_operator.apply import (
    Action,
    Applied,
    ObjectKey,
    apply_object,
    delete_object,
    dry_run_apply,
    is_create_only,
    key_of,
    post_event,
    stamped,
    unchanged_since,
    write_status,
)
from webstack_operator.builders import OwnerRef, StackContext, desired_objects
from webstack_operator.builders.frontend import frontend_name
from webstack_operator.builders.ingress import stack_url
from webstack_operator.kubeapi import JSON, ApiError, KubeClient, Resource
from webstack_operator.settings import Capabilities, OperatorSettings
from webstack_operator.spec import API_VERSION, KIND, SpecError, WebStackSpec, parse_spec
from webstack_operator.status import Observed, Problem, compute_status, status_changed

log = logging.getLogger("webstack.reconciler")

StackKey = tuple[str, str]  # namespace, name
FAILURES_BEFORE_REPORTING = 3

# Every kind a builder can render: what is watched, and what pruning may delete.
CHILD_KINDS: tuple[tuple[str, str], ...] = (
    ("v1", "ServiceAccount"),
    ("v1", "Secret"),
    ("v1", "ConfigMap"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("argoproj.io/v1alpha1", "Rollout"),
    ("argoproj.io/v1alpha1", "AnalysisTemplate"),
    ("autoscaling/v2", "HorizontalPodAutoscaler"),
    ("networking.k8s.io/v1", "Ingress"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("policy/v1", "PodDisruptionBudget"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
    ("velero.io/v1", "Schedule"),
    ("bitnami.com/v1alpha1", "SealedSecret"),
    ("external-secrets.io/v1", "ExternalSecret"),
)

CAPABILITY_PROBES: dict[str, tuple[str, str]] = {
    "argo_rollouts": ("argoproj.io/v1alpha1", "Rollout"),
    "prometheus_operator": ("monitoring.coreos.com/v1", "ServiceMonitor"),
    "velero": ("velero.io/v1", "Schedule"),
    "sealed_secrets": ("bitnami.com/v1alpha1", "SealedSecret"),
    "external_secrets": ("external-secrets.io/v1", "ExternalSecret"),
}


class TransientError(Exception):
    """The API failed in a way worth retrying (5xx, 429, timeouts, no connection)."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


def stack_of(obj: JSON) -> StackKey | None:
    """The WebStack a child belongs to: its instance label, in its own or its labelled namespace."""
    meta = obj.get("metadata", {})
    lbl = meta.get("labels") or {}
    instance = lbl.get(labels.INSTANCE)
    if not instance or lbl.get(labels.MANAGED_BY) != labels.MANAGED_BY_VALUE:
        return None
    return (lbl.get(labels.STACK_NAMESPACE) or meta.get("namespace", ""), instance)


def _rv(obj: JSON | None) -> int:
    try:
        return int((obj or {}).get("metadata", {}).get("resourceVersion", 0))
    except ValueError:
        return 0


@dataclass
class ChildCache:
    """Children as the watches last saw them, indexed by owning stack; deletions leave a tombstone."""

    objects: dict[ObjectKey, JSON] = field(default_factory=dict)
    by_stack: dict[StackKey, set[ObjectKey]] = field(default_factory=dict)
    tombstones: set[ObjectKey] = field(default_factory=set)

    def upsert(self, obj: JSON) -> StackKey | None:
        owner = stack_of(obj)
        key = key_of(obj)
        if owner is None:
            return None
        if _rv(obj) >= _rv(self.objects.get(key)):
            self.objects[key] = obj
        self.by_stack.setdefault(owner, set()).add(key)
        self.tombstones.discard(key)
        return owner

    def remove(self, obj: JSON) -> StackKey | None:
        owner = stack_of(obj)
        key = key_of(obj)
        self.objects.pop(key, None)
        if owner is not None:
            self.by_stack.get(owner, set()).discard(key)
            self.tombstones.add(key)
        return owner

    def of_stack(self, stack: StackKey) -> list[JSON]:
        return [self.objects[k] for k in sorted(self.by_stack.get(stack, ())) if k in self.objects]


def now_rfc3339() -> str:
    return datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass
class Controller:
    client: KubeClient
    settings: OperatorSettings
    capabilities: Capabilities = field(default_factory=Capabilities)
    cache: ChildCache = field(default_factory=ChildCache)
    stacks: dict[StackKey, JSON] = field(default_factory=dict)
    phases: dict[StackKey, str] = field(default_factory=dict)
    debounce: float = 0.2
    synced: asyncio.Event | None = None  # set once every child kind has been listed
    _applied: dict[ObjectKey, Applied] = field(default_factory=dict)
    _locks: dict[StackKey, asyncio.Lock] = field(default_factory=dict)
    _queued: set[StackKey] = field(default_factory=set)
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _retries: dict[StackKey, int] = field(default_factory=dict)

    async def post_event(self, body: JSON, etype: str, reason: str, message: str) -> None:
        """Events inform; failing to post one must never fail a reconcile."""
        try:
            await post_event(self.client, body, etype, reason, message, now_rfc3339())
        except ApiError as e:
            metrics.API_ERRORS.labels(status=str(e.status)).inc()
            log.warning("could not post event %s: %s", reason, e)

    # ------------------------------------------------------------ discovery
    async def refresh_capabilities(self) -> bool:
        """Discovers optional APIs; True when what is installed changed since the last look."""
        found = await self.client.discover()
        caps = Capabilities(**{name: probe in found for name, probe in CAPABILITY_PROBES.items()})
        changed = caps != self.capabilities
        if changed:
            log.info("optional APIs: %s", caps)
        self.capabilities = caps
        return changed

    # ------------------------------------------------------------- children
    def child_kinds(self) -> list[Resource]:
        """The child kinds this cluster serves (what to watch and what pruning may touch)."""
        found = (self.client.resource(api_version, kind) for api_version, kind in CHILD_KINDS)
        return [r for r in found if r is not None]

    def on_child_event(self, etype: str, obj: JSON) -> None:
        owner = self.cache.remove(obj) if etype == "DELETED" else self.cache.upsert(obj)
        if owner is not None:
            self.enqueue(owner)

    def on_child_resync(self, resource: Resource, items: list[JSON]) -> None:
        """A full list of one kind: anything cached but absent was deleted while the watch was down."""
        present = {key_of(i) for i in items}
        for key in [k for k in self.cache.objects if (k[0], k[1]) == (resource.api_version, resource.kind)]:
            if key not in present:
                self.on_child_event("DELETED", self.cache.objects[key])
        for item in items:
            self.on_child_event("ADDED", item)

    # --------------------------------------------------------------- queue
    def enqueue(self, stack: StackKey, delay: float | None = None) -> None:
        """Schedules a reconcile soon; bursts of child events for one stack collapse into one."""
        if stack in self._queued or stack not in self.stacks:
            return
        task = asyncio.get_running_loop().create_task(
            self._run_queued(stack, self.debounce if delay is None else delay)
        )
        self._queued.add(stack)  # only once a task exists that will take it off again
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def enqueue_all(self) -> None:
        for stack in list(self.stacks):
            self.enqueue(stack)

    async def _run_queued(self, stack: StackKey, delay: float) -> None:
        try:
            await asyncio.sleep(delay)
        finally:
            self._queued.discard(stack)
        body = self.stacks.get(stack)
        if body is None:
            return
        try:
            await self.reconcile(body)
        except TransientError as e:
            attempt = self._retries.get(stack, 1)
            log.warning("reconcile of %s/%s failed (attempt %d), retrying: %s", *stack, attempt, e)
            self.enqueue(stack, delay=min(60.0, 0.5 * 2**attempt))
        except Exception:
            log.exception("reconcile of %s/%s failed", *stack)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # ----------------------------------------------------------- reconcile
    async def reconcile(self, body: JSON) -> str:
        """Render, apply, prune, read back, write status. Returns the phase. Serialized per stack."""
        meta = body["metadata"]
        stack: StackKey = (meta["namespace"], meta["name"])
        if _rv(body) >= _rv(self.stacks.get(stack)):  # a handler's body may be older than the last event's
            self.stacks[stack] = body
        if self.synced is not None and not self.synced.is_set():
            await asyncio.wait_for(self.synced.wait(), timeout=60)
        lock = self._locks.setdefault(stack, asyncio.Lock())
        async with lock:
            started = time.monotonic()
            result = "success"
            try:
                phase = await self._reconcile(stack, self.stacks.get(stack, body))
                self._retries.pop(stack, None)
                result = {"Failed": "invalid_spec", "Paused": "paused"}.get(phase, "success")
                return phase
            except TransientError:
                result = "error"
                self._retries[stack] = self._retries.get(stack, 0) + 1
                raise
            finally:
                metrics.RECONCILES.labels(result=result).inc()
                metrics.RECONCILE_DURATION.observe(time.monotonic() - started)

    def forget(self, stack: StackKey) -> None:
        self.stacks.pop(stack, None)
        self.phases.pop(stack, None)
        metrics.set_phases(self.phases)

    async def _reconcile(self, stack: StackKey, body: JSON) -> str:
        if body["metadata"].get("deletionTimestamp"):
            return self.phases.get(stack, "Pending")
        generation = int(body["metadata"].get("generation") or 0)
        previous = body.get("status") or {}
        try:
            spec = parse_spec(body)
        except SpecError as e:
            return await self._invalid(stack, body, generation, previous, e)
        if spec.paused:
            return await self._finish(stack, body, spec, generation, previous, problem=None)

        ctx = StackContext(
            spec=spec,
            name=stack[1],
            namespace=stack[0],
            settings=replace(self.settings, capabilities=self.capabilities),
            owner=OwnerRef(api_version=API_VERSION, kind=KIND, name=stack[1], uid=body["metadata"]["uid"]),
            generated_password=secrets.token_urlsafe(24),
        )
        try:
            desired = desired_objects(ctx)
        except (ValueError, KeyError) as e:  # a builder refusing a combination the schema let through
            return await self._invalid(stack, body, generation, previous, SpecError([("spec", str(e))]))

        try:
            spec_changed = previous.get("observedGeneration") != generation
            await self._apply_all(body, desired, validate_first=spec_changed)
            await self._prune(body, stack, {key_of(o) for o in desired})
        except ApiError as e:
            metrics.API_ERRORS.labels(status=str(e.status)).inc()
            if e.transient or e.status in (401, 403, 404, 409):
                await self._report_failure(stack, body, spec, generation, previous, e)
                raise TransientError(str(e), delay=1.0) from e
            # The apiserver refused an object the spec produced: nothing was written (see validate_first).
            return await self._invalid(stack, body, generation, previous, SpecError([("spec", e.message)]))
        return await self._finish(stack, body, spec, generation, previous, problem=None)

    async def _report_failure(
        self,
        stack: StackKey,
        body: JSON,
        spec: WebStackSpec,
        generation: int,
        previous: JSON,
        error: ApiError,
    ) -> None:
        """A blip is retried quietly; a failure that persists (RBAC, an unavailable API) shows in status
        and as a Warning Event, once, after three failed attempts."""
        if self._retries.get(stack, 0) != FAILURES_BEFORE_REPORTING:
            return
        problem = Problem("ApiError", f"{error.message} (HTTP {error.status}); retrying with backoff")
        await self.post_event(body, "Warning", "ReconcileFailed", problem.message)
        with contextlib.suppress(ApiError, TransientError):
            await self._finish(stack, body, spec, generation, previous, problem=problem)

    async def _apply_all(self, owner: JSON, desired: list[JSON], *, validate_first: bool) -> None:
        pending: list[tuple[Resource, JSON, JSON | None]] = []
        for obj in desired:
            resource = self.client.resource(obj["apiVersion"], obj["kind"])
            if resource is None:
                continue  # an optional API vanished since discovery; the next discovery re-renders
            key = key_of(obj)
            observed = self.cache.objects.get(key)
            if is_create_only(obj):
                if observed is not None:
                    continue
            elif unchanged_since(self._applied.get(key), observed, stamped(obj)[1]):
                continue
            pending.append((resource, obj, observed))
        if validate_first and len(pending) > 1:
            # A new spec is checked whole by the apiserver before anything is written: no half-applied stack.
            for resource, obj, _ in pending:
                if not is_create_only(obj):
                    await dry_run_apply(self.client, resource, obj)
        for resource, obj, observed in pending:
            key = key_of(obj)
            action, result, record = await apply_object(
                self.client,
                resource,
                obj,
                observed=observed,
                applied=self._applied.get(key),
                tombstoned=key in self.cache.tombstones,
            )
            self._applied[key] = record
            self.cache.upsert(result)
            await self._report(owner, action, obj)

    async def _report(self, owner: JSON, action: Action, obj: JSON) -> None:
        if action is Action.UNCHANGED:
            return
        kind, name = obj["kind"], obj["metadata"]["name"]
        metrics.OBJECT_WRITES.labels(action=action.value, kind=kind).inc()
        if action in (Action.DRIFT_CORRECTED, Action.RECREATED):
            metrics.DRIFT_CORRECTIONS.labels(kind=kind).inc()
            what = (
                "was deleted; recreated it"
                if action is Action.RECREATED
                else "was changed by someone else; restored it"
            )
            await self.post_event(owner, "Warning", "DriftCorrected", f"{kind} {name} {what}")
        else:
            await self.post_event(owner, "Normal", action.value, f"{kind} {name}")

    async def _prune(self, owner: JSON, stack: StackKey, desired_keys: set[ObjectKey]) -> None:
        """Deletes managed children no longer desired (monitoring turned off, Canary switched off...)."""
        for obj in self.cache.of_stack(stack):
            key = key_of(obj)
            if key in desired_keys or not _prunable(obj, owner) or (key[0], key[1]) not in CHILD_KINDS:
                continue
            resource = self.client.resource(key[0], key[1])
            if resource is None:
                continue
            if await delete_object(self.client, resource, key[2], key[3]):
                metrics.OBJECT_WRITES.labels(action="Pruned", kind=key[1]).inc()
                await self.post_event(owner, "Normal", "Pruned", f"{key[1]} {key[3]} is no longer desired")
            self._applied.pop(key, None)
            self.cache.remove(obj)
            self.cache.tombstones.discard(key)

    def _url(self, spec: WebStackSpec, name: str, namespace: str) -> str:
        """The Ingress URL the builders derive (https only where the ALB terminates TLS), else the frontend
        Service's in-cluster name."""
        ctx = StackContext(spec=spec, name=name, namespace=namespace, settings=self.settings)
        return stack_url(ctx) or f"http://{frontend_name(ctx)}.{namespace}.svc.cluster.local"

    def _observed(
        self, stack: StackKey, spec: WebStackSpec, generation: int, problem: Problem | None
    ) -> Observed:
        ns, name = stack

        def find(kinds: tuple[str, ...], suffix: str) -> JSON | None:
            found = [
                o
                for o in self.cache.of_stack(stack)
                if o["kind"] in kinds and o["metadata"]["name"] == f"{name}-{suffix}"
            ]
            return max(found, key=_rv) if found else None

        backend_kind = (
            ("Rollout",)
            if spec.backend.delivery.strategy == "Canary" and self.capabilities.argo_rollouts
            else ("Deployment",)
        )
        return Observed(
            generation=generation,
            backend=find(backend_kind, "backend"),
            frontend=find(("Deployment",), "frontend"),
            database=find(("StatefulSet",), "postgres"),
            cache=find(("Deployment",), "redis"),
            rollouts_available=self.capabilities.argo_rollouts,
            monitoring_available=self.capabilities.prometheus_operator,
            velero_available=self.capabilities.velero,
            problem=problem,
            invalid_spec=problem is not None and problem.reason == "InvalidSpec",
            url=self._url(spec, name, ns),
        )

    async def _finish(
        self,
        stack: StackKey,
        body: JSON,
        spec: WebStackSpec,
        generation: int,
        previous: JSON,
        *,
        problem: Problem | None,
    ) -> str:
        status = compute_status(
            spec, self._observed(stack, spec, generation, problem), previous, now_rfc3339()
        )
        await self._write_status(stack, body, previous, status)
        return str(status["phase"])

    async def _invalid(
        self, stack: StackKey, body: JSON, generation: int, previous: JSON, error: SpecError
    ) -> str:
        """A spec the schema let through but we cannot render: say where, change nothing."""
        message = "; ".join(f"{path}: {msg}" for path, msg in error.problems)
        conditions = [
            c for c in previous.get("conditions") or [] if c.get("type") not in ("Ready", "Reconciled")
        ]
        now = now_rfc3339()
        for ctype in ("Ready", "Reconciled"):
            conditions.insert(
                0,
                {
                    "type": ctype,
                    "status": "False",
                    "reason": "InvalidSpec",
                    "message": message[:1000],
                    "lastTransitionTime": now,
                    "observedGeneration": generation,
                },
            )
        old = {c.get("type"): c for c in previous.get("conditions") or []}
        for c in conditions:
            prior = old.get(c["type"])
            if prior and prior.get("status") == c["status"] and prior.get("lastTransitionTime"):
                c["lastTransitionTime"] = prior["lastTransitionTime"]
        status = {**previous, "phase": "Failed", "observedGeneration": generation, "conditions": conditions}
        if previous.get("phase") != "Failed" or previous.get("observedGeneration") != generation:
            await self.post_event(body, "Warning", "InvalidSpec", message)
        await self._write_status(stack, body, previous, status)
        return "Failed"

    async def _write_status(self, stack: StackKey, body: JSON, previous: JSON, status: JSON) -> None:
        self.phases[stack] = str(status["phase"])
        metrics.set_phases(self.phases)
        for ctype in ("MonitoringConfigured", "BackupConfigured", "CanaryProgressing"):
            await self._warn_on_new_skip(body, previous, status, ctype)
        if not status_changed(previous, status):
            return
        resource = self.client.resource(API_VERSION, KIND)
        assert resource is not None
        ns, name = stack
        try:
            result = await write_status(self.client, resource, ns, name, status)
        except ApiError as e:
            if e.status == 404:
                return  # deleted meanwhile
            metrics.API_ERRORS.labels(status=str(e.status)).inc()
            raise TransientError(str(e), delay=1.0) from e
        self.stacks[stack] = result

    async def _warn_on_new_skip(self, body: JSON, previous: JSON, status: JSON, ctype: str) -> None:
        """One Warning Event when an optional API goes missing, not one per reconcile."""
        new = next((c for c in status.get("conditions", []) if c["type"] == ctype), None)
        old = next((c for c in previous.get("conditions") or [] if c.get("type") == ctype), None)
        if (
            new
            and new["reason"].endswith("NotInstalled")
            and (old is None or old.get("reason") != new["reason"])
        ):
            await self.post_event(body, "Warning", new["reason"], new["message"])


def _prunable(obj: JSON, owner: JSON) -> bool:
    """Only what this WebStack controls: a Secret made by Sealed Secrets or External Secrets carries our
    labels (copied from its template) but belongs to that controller, and generated credentials are kept."""
    if is_create_only(obj):
        return False
    refs = obj["metadata"].get("ownerReferences") or []
    if refs:
        return any(r.get("uid") == owner["metadata"]["uid"] and r.get("controller") for r in refs)
    # No owner reference: only objects outside the stack's namespace are ours without one.
    return bool(obj["metadata"].get("namespace") != owner["metadata"]["namespace"])


def owner_body(stack: StackKey, uid: str) -> JSON:
    """A minimal body for posting Events about a stack whose full body is gone."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"namespace": stack[0], "name": stack[1], "uid": uid},
    }

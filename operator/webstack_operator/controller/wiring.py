"""The operator's parts, wired: discovery, child watches into the cache, the work queue, the reconcile.

kopf's handlers call only this class. It owns the background loops (discovery, the periodic resync) and
the life of every per-stack entry: a stack is tracked when it is seen and forgotten when it is deleted, so
memory follows the number of stacks that exist.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from webstack_operator.config.operator_settings import Capabilities, OperatorSettings
from webstack_operator.config.run_options import OperatorConfig
from webstack_operator.controller.queue import WorkQueue
from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects.kinds import CHILD_KINDS, ChildKind, capabilities_from, settle_capabilities
from webstack_operator.observe import prerequisites
from webstack_operator.observe.cache import ChildCache, StackKey, stack_of
from webstack_operator.observe.dependents import (
    CLAIM,
    EVENT,
    EVENT_FIELD_SELECTOR,
    POD,
    DependentsCache,
    WorkloadRef,
)
from webstack_operator.observe.prerequisites import ClusterObjects
from webstack_operator.observe.watch import ChildWatches, Target, by_our_label
from webstack_operator.reconcile.credentials_rules import regenerate_request
from webstack_operator.reconcile.decisions import Event
from webstack_operator.reconcile.deletion import finalize
from webstack_operator.reconcile.drill_action import drill_request, ran_drills
from webstack_operator.reconcile.reconciler import Reconciler
from webstack_operator.reconcile.restart_action import restart_request
from webstack_operator.telemetry import metrics

log = logging.getLogger("webstack.controller")

SYNC_LIMIT_SECONDS = 60  # reconciles wait for every child kind to be listed once, at most this long


def elsewhere_namespace(row: ChildKind, settings: OperatorSettings) -> str:
    """The one namespace a kind living outside the stacks' namespaces is rendered in (by its builder)."""
    if row.capability == "velero":  # the Schedule, and the Backups Velero makes from it
        return settings.velero_namespace
    raise ValueError(f"{row.kind}: no namespace is known for a kind living elsewhere")


def watch_namespaces(row: ChildKind, config: OperatorConfig) -> tuple[str | None, ...]:
    """Where a child kind is listed and watched: every namespace (None) for a cluster-wide operator; for a
    namespaced one, each namespace it serves, or the one namespace a kind living elsewhere is put in (the
    Velero Schedule, in Velero's). Each is its own watch, so namespaced Roles are enough."""
    if not config.namespaces:
        return (None,)
    if row.elsewhere:
        return (elsewhere_namespace(row, config.settings),)
    return config.namespaces


def watch_targets(client: KubeClient, config: OperatorConfig) -> list[Target]:
    """Every (kind, namespace) to watch, for the kinds the cluster serves (as of the last discovery): the
    children; what their workloads made (pods, claims, failed creates); the objects specs name. A namespaced
    operator has no cluster-wide rights, so it does not watch cluster-scoped kinds: those are not checked."""
    targets: list[Target] = []
    for row in CHILD_KINDS:
        resource = client.resource(row.api_version, row.kind)
        if resource is not None:
            targets.extend((resource, ns) for ns in watch_namespaces(row, config))
    for api_version, kind in (POD, CLAIM, EVENT, *prerequisites.KINDS):
        resource = client.resource(api_version, kind)
        if resource is None:
            continue
        if resource.namespaced:
            targets.extend((resource, ns) for ns in (config.namespaces or (None,)))
        elif not config.namespaces:
            targets.append((resource, None))
    return targets


def selects(resource: Resource) -> dict[str, str]:
    """Children, pods and claims by our label; FailedCreate Events by field; referenced kinds whole."""
    key = (resource.api_version, resource.kind)
    if key == EVENT:
        return {"fieldSelector": EVENT_FIELD_SELECTOR}
    if key in prerequisites.KINDS:
        return {}
    return by_our_label(resource)


class Controller:
    def __init__(self, client: KubeClient, config: OperatorConfig) -> None:
        self.client = client
        self.config = config
        self.cache = ChildCache(elsewhere=config.settings.velero_namespace)  # the one namespace outside
        self.dependents = DependentsCache()
        self.cluster_objects = ClusterObjects()
        self.reconciler = Reconciler(
            client, config, self.cache, dependents=self.dependents, cluster_objects=self.cluster_objects
        )
        self.queue: WorkQueue[StackKey] = WorkQueue(
            self.reconciler.reconcile, debounce=config.debounce_seconds, concurrency=config.concurrency
        )
        self.reconciler.handovers.wake = self._wake  # a stack waiting its hand-over turn, when it is free
        self.watches = ChildWatches(client, self._on_child_event, self._on_child_resync, selects=selects)
        self._loops: list[asyncio.Task[None]] = []
        self._discovered: Capabilities | None = None  # None until the first successful discovery
        self._absent: frozenset[str] = frozenset()  # optional APIs the last discovery showed absent
        metrics.CACHED_CHILDREN.set_function(lambda: self.cache.sizes()[0])
        metrics.TRACKED_STACKS.set_function(lambda: self.cache.sizes()[1])
        metrics.QUEUE_DEPTH.set_function(lambda: len(self.queue))

    async def start(self) -> None:
        """Discovers, starts the watches, and lets reconciles run once the cache is filled: pruning must
        not act on a cache still filling up."""
        await self.discover()
        loop = asyncio.get_running_loop()
        self._loops = [
            loop.create_task(self._start_queue_when_synced(), name="initial-sync"),
            loop.create_task(_every(self.config.discovery_seconds, self._rediscover), name="discovery"),
            loop.create_task(_every(self.config.resync_seconds, self._resync), name="resync"),
        ]
        log.info("started: optional APIs %s", self.reconciler.capabilities)

    async def close(self) -> None:
        """Stops every loop, watch and reconcile of this controller and lets go of what it held, so that a
        replica going back to standby keeps nothing of it (safe to call twice)."""
        for task in self._loops:
            task.cancel()
        await asyncio.gather(*self._loops, return_exceptions=True)
        self._loops = []
        await self.watches.close()
        await self.queue.close()
        for gauge in (metrics.CACHED_CHILDREN, metrics.TRACKED_STACKS, metrics.QUEUE_DEPTH):
            gauge.set_function(lambda: 0)  # the functions held this controller
        metrics.PHASES.clear()  # a standby reports no stacks: the leader does
        metrics.forget_drills()

    def problems(self) -> list[str]:
        """What makes this replica unhealthy: a child watch that stopped following the cluster. A watch the
        apiserver refuses (403) is not one: a restart cannot grant a Role; it is logged, and the stacks
        that need that kind report what they cannot write."""
        stale = self.watches.stale(self.config.resync_seconds)
        return [f"watch of {kind} has not worked for over {self.config.resync_seconds:g}s" for kind in stale]

    # -- stacks, as kopf reports them
    def stack_seen(self, body: JSON, *, reconcile: bool) -> None:
        stack = self.reconciler.remember(body)
        self.cache.track(stack, body["metadata"]["uid"])
        # kopf's diff ignores our own `webstack.dev/` annotations, so a one-shot action (regenerate, restart,
        # drill) would wait for the resync on an idle stack: any event of a stack still carrying one
        # reconciles it.
        actions = (regenerate_request, restart_request, drill_request)
        if reconcile or any(request(body) is not None for request in actions):
            self.queue.enqueue(stack)

    def stack_gone(self, stack: StackKey) -> None:
        self.reconciler.forget(stack)
        self.cache.forget(stack)
        self.queue.forget(stack)

    async def finalize(self, body: JSON, attempt: int) -> None:
        """Deletes what owner references cannot reach; Retry while attempts remain. Through the stack's one
        serialisation point: after the reconcile in flight, with none beside it. The body remembered first
        carries the deletionTimestamp, which marks the stack as finalizing: no later reconcile writes."""
        stack = self.reconciler.remember(body)

        async def tell(event: Event) -> None:
            await self.reconciler.tell(body, event)

        async def clean_up() -> None:
            uid, drills = body["metadata"]["uid"], ran_drills(body)
            elsewhere = self._elsewhere_namespace()
            await finalize(self.client, stack, uid, attempt, tell, namespace=elsewhere, drills=drills)

        await self.queue.exclusive(stack, clean_up)
        self.stack_gone(stack)

    # -- children, as the watches report them
    def _on_child_event(self, etype: str, obj: JSON) -> None:
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key in (POD, CLAIM):
            owner = self.dependents.saw(etype, obj)
        elif key == EVENT:
            owner = self._statefulset_stack(self.dependents.saw_event(etype, obj))
        elif key in prerequisites.KINDS:
            if self.cluster_objects.saw(etype, obj):
                self._enqueue_all()
            return
        else:
            owner = self.cache.remove(obj) if etype == "DELETED" else self.cache.upsert(obj)
        if owner is not None:
            self._enqueue(owner)

    def _on_child_resync(self, resource: Resource, namespace: str | None, items: list[JSON]) -> None:
        key = (resource.api_version, resource.kind)
        if key in (POD, CLAIM):
            owners = self.dependents.resync(resource.api_version, resource.kind, namespace, items)
        elif key == EVENT:
            found = (self._statefulset_stack(r) for r in self.dependents.resync_events(namespace, items))
            owners = {o for o in found if o is not None}
        elif key in prerequisites.KINDS:
            if self.cluster_objects.resync(resource.kind, namespace, items):
                self._enqueue_all()
            return
        else:
            owners = self.cache.resync(resource.api_version, resource.kind, items, namespace=namespace)
        for owner in owners:
            self._enqueue(owner)

    def _statefulset_stack(self, ref: WorkloadRef | None) -> StackKey | None:
        """The stack whose StatefulSet an Event is about (None: not one of ours, or not seen yet)."""
        seen = self.cache.get(("apps/v1", "StatefulSet", *ref)) if ref is not None else None
        return stack_of(seen.obj) if seen is not None else None

    def _enqueue_all(self) -> None:
        """An object some spec may name appeared or went: every stack checks again (cheap when idle)."""
        for stack in list(self.reconciler.bodies):
            self.queue.enqueue(stack)

    def _elsewhere_namespace(self) -> str | None:
        """Where the finalizer looks for a stack's objects outside its namespace: the one namespace stacks
        write them in (Velero's), cluster-wide or namespaced; an object elsewhere is no stack's."""
        return elsewhere_namespace(next(r for r in CHILD_KINDS if r.elsewhere), self.config.settings)

    def _enqueue(self, stack: StackKey) -> None:
        if stack in self.reconciler.bodies:
            self.queue.enqueue(stack)

    def _wake(self, stack: StackKey, delay: float) -> None:
        if stack in self.reconciler.bodies:
            self.queue.enqueue(stack, delay)

    # -- discovery and the safety-net resync
    async def discover(self) -> bool:
        """Looks at which optional APIs are served; True when that changed. Watches follow the answer."""
        found = await self.client.discover()
        capabilities, self._absent = settle_capabilities(
            self._discovered, capabilities_from(set(found)), self._absent
        )
        self._discovered = capabilities
        changed = capabilities != self.reconciler.capabilities
        if changed:
            log.info("optional APIs: %s", capabilities)
        self.reconciler.capabilities, self.reconciler.served = capabilities, frozenset(found)
        self.watches.ensure(watch_targets(self.client, self.config))  # also restarts a watch that died
        return changed

    async def _rediscover(self) -> None:
        try:
            if await self.discover():
                await self._resync()
        except ApiError as e:
            metrics.API_ERRORS.labels(status=str(e.status)).inc()
            log.warning("discovery failed: %s", e)

    async def _resync(self) -> None:
        """Level-based safety net: a missed event is corrected within one interval."""
        for stack in list(self.reconciler.bodies):
            self.queue.enqueue(stack)

    async def _start_queue_when_synced(self) -> None:
        try:
            await self.watches.wait_synced(limit=SYNC_LIMIT_SECONDS)
        except TimeoutError:
            log.warning("not every child kind was listed within %ss; reconciling anyway", SYNC_LIMIT_SECONDS)
        self.queue.start()


async def _every(seconds: float, what: Callable[[], Awaitable[None]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await what()
        except Exception:  # a loop that dies silently would stop discovery or the resync for good
            log.exception("periodic %s failed", getattr(what, "__name__", "task"))

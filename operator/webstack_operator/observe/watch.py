"""Label-selected watches of every child kind: the reconciler's cache, fed by the apiserver.

kopf's own resource handlers would watch every Secret, ConfigMap and Deployment in the cluster and filter
by label in Python; these watches ask the apiserver for only `managed-by=webstack-operator` objects.
Each kind is listed once (in pages), then watched from the list's resourceVersion (bookmarks keep it fresh);
when that version is too old (410 Gone) it is listed again, and any other failure is retried with backoff.
A watch the server keeps ending at once with nothing in it is reopened with a backoff of its own.

A cluster-wide operator watches each kind in every namespace; a namespaced one (`run --namespace A
--namespace B`) runs one watch per kind and namespace, so namespaced Roles are all it needs. Every watch
has its own list (the whole truth for its kind in its namespace), backoff, health and first sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.telemetry import metrics

log = logging.getLogger("webstack.watch")

SELECTOR = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
WATCH_SECONDS = 290  # below most load balancers' idle timeouts; the watch is simply resumed
HEALTHY_STREAM_SECONDS = 10.0  # a watch that streamed this long before it broke starts its backoff over

OnEvent = Callable[[str, JSON], None]  # type (ADDED, MODIFIED or DELETED), object
# The full list of one kind after a (re)list, in one namespace (None: in every namespace).
OnResync = Callable[[Resource, str | None, list[JSON]], None]
Backoff = Callable[[int], float]  # consecutive failures (1, 2, ...) -> seconds to wait before retrying
Target = tuple[Resource, str | None]  # a kind, and the namespace it is watched in (None: every namespace)
# What a kind's list and watch ask for beyond the defaults: children by our label; some kinds otherwise.
Selects = Callable[[Resource], dict[str, str]]
WatchKey = tuple[str, str, str]  # apiVersion, kind, namespace ("" for every namespace)


@dataclass
class _Progress:
    """Where one watch loop is: the version it resumes from (None: list first), and its two backoffs."""

    rv: str | None = None
    failures: int = 0  # failures in a row
    quiet_ends: int = 0  # watches in a row that ended at once with no event
    streaming_since: float = field(default_factory=time.monotonic)


def quiet_end_delay(ends: int) -> float:
    """After the first quick empty end, at once (a watch may just have timed out); then 0.5 s, 1 s, 2 s, ...
    up to 30 s."""
    return 0.0 if ends <= 1 else min(30.0, 0.5 * 2.0 ** (ends - 2))


def retry_delay(failures: int) -> float:
    """1 s, 2 s, 4 s, ... up to 30 s."""
    return min(30.0, 0.5 * 2.0**failures)


def by_our_label(resource: Resource) -> dict[str, str]:
    return {"labelSelector": SELECTOR}


def watch_key(resource: Resource, namespace: str | None) -> WatchKey:
    return (resource.api_version, resource.kind, namespace or "")


def describe(key: WatchKey) -> str:
    """`Service`, or `Service in team-a` for a watch of one namespace: how logs and health name a watch."""
    return f"{key[1]} in {key[2]}" if key[2] else key[1]


class ChildWatches:
    """One list+watch loop per child kind the cluster serves (per kind and namespace when the operator
    serves given namespaces); started and stopped as discovery changes."""

    def __init__(
        self,
        client: KubeClient,
        on_event: OnEvent,
        on_resync: OnResync,
        *,
        backoff: Backoff = retry_delay,
        quiet_backoff: Backoff = quiet_end_delay,
        selects: Selects = by_our_label,
    ) -> None:
        self.client = client
        self.selects = selects
        self.on_event = on_event
        self.on_resync = on_resync
        self.backoff = backoff
        self.quiet_backoff = quiet_backoff  # watches in a row that ended at once, empty -> seconds to wait
        self.tasks: dict[WatchKey, asyncio.Task[None]] = {}
        # Set once the watch has listed, or been refused (403): waiting longer would not fill the cache.
        self.synced: dict[WatchKey, asyncio.Event] = {}
        # Since when (monotonic) each watch has failed without a success in between; absent: working.
        self.failing_since: dict[WatchKey, float] = {}
        # Watches the apiserver refuses (403), with its message; absent once a list or watch is accepted.
        self.refused: dict[WatchKey, str] = {}

    def ensure(self, targets: Iterable[Resource | Target]) -> None:
        """Runs exactly these watches: a kind alone is watched in every namespace."""
        wanted: dict[WatchKey, Target] = {}
        for target in targets:
            resource, namespace = target if isinstance(target, tuple) else (target, None)
            wanted[watch_key(resource, namespace)] = (resource, namespace)
        for key, task in list(self.tasks.items()):
            if key not in wanted:
                task.cancel()
                del self.tasks[key]
                self.failing_since.pop(key, None)
                self.refused.pop(key, None)
                self.synced.pop(key, None)  # served again later, it must be listed again before it counts
        for key, (resource, namespace) in wanted.items():
            if key not in self.tasks or self.tasks[key].done():
                self.synced.setdefault(key, asyncio.Event())
                self.tasks[key] = asyncio.get_running_loop().create_task(
                    self._loop(resource, namespace), name=f"watch-{describe(key).replace(' in ', '-')}"
                )

    async def wait_synced(self, limit: float = 30) -> None:
        """Until every watch has listed once (or was refused): pruning must not act on a cache still filling
        up. A refused watch counts: no wait would fill it, and what it cannot list is never pruned."""
        await asyncio.wait_for(
            asyncio.gather(*(e.wait() for k, e in self.synced.items() if k in self.tasks)), limit
        )

    def stale(self, max_age: float) -> list[str]:
        """Watches that have kept failing for over `max_age` seconds (no list or accepted watch since), or
        whose loop died: the cache no longer follows them, so the operator is not healthy. A quiet watch that
        works is not stale, however long nothing happens; nor is one the apiserver refuses (403), which a
        restart would not cure (`forbidden` names those)."""
        now = time.monotonic()
        return sorted(
            describe(key)
            for key, task in self.tasks.items()
            if task.done() or (key not in self.refused and now - self.failing_since.get(key, now) > max_age)
        )

    def forbidden(self) -> list[str]:
        """Watches the apiserver refuses (403): a grant is missing. Their stacks report what they cannot
        write; the rest of the operator works on."""
        return sorted(f"{describe(key)}: {message}" for key, message in self.refused.items())

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    def _working(self, key: WatchKey) -> None:
        self.failing_since.pop(key, None)
        if self.refused.pop(key, None) is not None:
            log.info("watch of %s is allowed again", describe(key))

    async def _loop(self, resource: Resource, namespace: str | None) -> None:
        key = watch_key(resource, namespace)
        state = _Progress()
        while True:
            try:
                if state.rv is None:
                    state.rv = await self._list(resource, namespace, key)
                    state.failures = 0
                events = await self._follow(resource, key, state)
                if state.rv is not None:
                    self.failing_since.pop(key, None)  # the server ended the watch on time
                await self._after_clean_end(key, state, events)  # or with an ERROR event: list again
                state.failures = 0
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                metrics.API_ERRORS.labels(status=str(e.status)).inc()
                self.failing_since.setdefault(key, time.monotonic())
                if time.monotonic() - state.streaming_since > HEALTHY_STREAM_SECONDS:
                    state.failures = 0  # a watch that streamed for a while and then broke: a fresh failure
                state.failures += 1
                if e.status == 410:
                    state.rv = None
                delay = self.backoff(state.failures)
                if e.status == 403:
                    self._refused(key, e)
                log.warning("watch of %s failed (%s); again in %.1fs", describe(key), e, delay)
                await asyncio.sleep(delay)
            except Exception:  # a watch must outlive any one bad event: list again from scratch
                self.failing_since.setdefault(key, time.monotonic())
                state.failures += 1
                state.rv = None
                log.exception("watch of %s broke; listing again", describe(key))
                await asyncio.sleep(self.backoff(state.failures))

    async def _list(self, resource: Resource, namespace: str | None, key: WatchKey) -> str:
        """The whole truth for the kind, in pages, handed to `on_resync`; the version to watch from."""
        listed = await self.client.list_all(resource.path(namespace), self.selects(resource))
        items = listed.get("items", [])
        for item in items:
            item.setdefault("apiVersion", resource.api_version)
            item.setdefault("kind", resource.kind)
        self.on_resync(resource, namespace, items)
        self.synced[key].set()
        self._working(key)
        return str(listed["metadata"]["resourceVersion"])

    async def _follow(self, resource: Resource, key: WatchKey, state: _Progress) -> int:
        """One watch from `state.rv` until the server ends it; the events it carried (bookmarks aside).
        `state.rv` follows every event; None after an ERROR event (410 Gone: list again)."""
        params = {
            **self.selects(resource),
            "watch": "1",
            "resourceVersion": str(state.rv),
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(WATCH_SECONDS),
        }
        state.streaming_since, events = time.monotonic(), 0
        # aclosing: leaving on ERROR closes the connection now, not when the generator is collected
        opened = functools.partial(self._working, key)
        stream = self.client.stream(resource.path(key[2] or None), params, on_open=opened)
        async with contextlib.aclosing(stream) as received:
            async for event in received:
                self.failing_since.pop(key, None)
                state.failures = 0  # it works again: the next failure starts the backoff over
                obj = event.get("object") or {}
                etype = event.get("type", "")
                if etype == "ERROR":
                    state.rv = None  # 410 Gone: our resourceVersion is too old; list again
                    break
                state.rv = str(obj.get("metadata", {}).get("resourceVersion", state.rv))
                if etype == "BOOKMARK":
                    continue
                events += 1
                obj.setdefault("apiVersion", resource.api_version)
                obj.setdefault("kind", resource.kind)
                self.on_event(etype, obj)
        return events

    async def _after_clean_end(self, key: WatchKey, state: _Progress, events: int) -> None:
        """A watch that ended on time (or with an ERROR event, listed again) is resumed at once. One that
        ended at once with nothing in it, again and again (a proxy or a server closing every watch, or
        answering each with an ERROR event), waits longer each time: no hot loop of watches or lists."""
        if events or time.monotonic() - state.streaming_since >= HEALTHY_STREAM_SECONDS:
            state.quiet_ends = 0
            return
        state.quiet_ends += 1
        delay = self.quiet_backoff(state.quiet_ends)
        if delay > 0:
            log.debug(
                "watch of %s ended at once %d times in a row; again in %.1fs",
                describe(key),
                state.quiet_ends,
                delay,
            )
            await asyncio.sleep(delay)

    def _refused(self, key: WatchKey, error: ApiError) -> None:
        if key not in self.refused:
            where = f"namespace {key[2]}" if key[2] else "every namespace"
            log.error(
                "the apiserver refuses to let this operator list and watch %s in %s: stacks that need it "
                "cannot be reconciled until its Role grants list and watch (%s)",
                key[1],
                where,
                error.message,
            )
        self.refused[key] = error.message
        self.synced[key].set()  # waiting would not fill this watch's part of the cache

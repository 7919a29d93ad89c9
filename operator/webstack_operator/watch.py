"""Label-selected watches of every child kind: the reconciler's cache, fed by the apiserver.

kopf's own resource handlers would watch every Secret, ConfigMap and Deployment in the cluster and filter
by label in Python; these watches ask the apiserver for only `managed-by=webstack-operator` objects.
Each kind is listed once, then watched from the list's resourceVersion (bookmarks keep it fresh); when
that version is too old (410 Gone) it is listed again, and any other failure is retried with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable

from webstack_operator import labels, metrics
from webstack_operator.kubeapi import JSON, ApiError, KubeClient, Resource

log = logging.getLogger("webstack.watch")

SELECTOR = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
WATCH_SECONDS = 290  # below most load balancers' idle timeouts; the watch is simply resumed
HEALTHY_STREAM_SECONDS = 10.0  # a watch that streamed this long before it broke starts its backoff over

OnEvent = Callable[[str, JSON], None]  # type (ADDED, MODIFIED or DELETED), object
OnResync = Callable[[Resource, list[JSON]], None]  # the full list after a (re)list
Backoff = Callable[[int], float]  # consecutive failures (1, 2, ...) -> seconds to wait before retrying


def retry_delay(failures: int) -> float:
    """1 s, 2 s, 4 s, ... up to 30 s."""
    return min(30.0, 0.5 * 2.0**failures)


class ChildWatches:
    """One list+watch loop per child kind the cluster serves; started and stopped as discovery changes."""

    def __init__(
        self, client: KubeClient, on_event: OnEvent, on_resync: OnResync, *, backoff: Backoff = retry_delay
    ) -> None:
        self.client = client
        self.on_event = on_event
        self.on_resync = on_resync
        self.backoff = backoff
        self.tasks: dict[tuple[str, str], asyncio.Task[None]] = {}
        self.synced: dict[tuple[str, str], asyncio.Event] = {}
        # Since when (monotonic) each kind's watch has failed without a success in between; absent: working.
        self.failing_since: dict[tuple[str, str], float] = {}

    def ensure(self, kinds: list[Resource]) -> None:
        wanted = {(r.api_version, r.kind): r for r in kinds}
        for key, task in list(self.tasks.items()):
            if key not in wanted:
                task.cancel()
                del self.tasks[key]
                self.failing_since.pop(key, None)
                self.synced.pop(key, None)  # served again later, it must be listed again before it counts
        for key, resource in wanted.items():
            if key not in self.tasks or self.tasks[key].done():
                self.synced.setdefault(key, asyncio.Event())
                self.tasks[key] = asyncio.get_running_loop().create_task(
                    self._loop(resource), name=f"watch-{key[1]}"
                )

    async def wait_synced(self, limit: float = 30) -> None:
        """Until every kind has been listed once: pruning must not act on a cache still filling up."""
        await asyncio.wait_for(
            asyncio.gather(*(e.wait() for k, e in self.synced.items() if k in self.tasks)), limit
        )

    def stale(self, max_age: float) -> list[str]:
        """Kinds whose watch has kept failing for over `max_age` seconds (no list or accepted watch since),
        or whose loop died: the cache no longer follows them, so the operator is not healthy. A quiet watch
        that works is not stale, however long nothing happens."""
        now = time.monotonic()
        return sorted(
            key[1]
            for key, task in self.tasks.items()
            if task.done() or now - self.failing_since.get(key, now) > max_age
        )

    async def close(self) -> None:
        for task in self.tasks.values():
            task.cancel()
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)

    async def _loop(self, resource: Resource) -> None:
        key = (resource.api_version, resource.kind)
        rv: str | None = None
        failures = 0
        streaming_since = time.monotonic()
        while True:
            try:
                if rv is None:
                    listed = await self.client.request(
                        "GET", resource.path(), params={"labelSelector": SELECTOR}
                    )
                    items = listed.get("items", [])
                    for item in items:
                        item.setdefault("apiVersion", resource.api_version)
                        item.setdefault("kind", resource.kind)
                    self.on_resync(resource, items)
                    rv = str(listed["metadata"]["resourceVersion"])
                    self.synced[key].set()
                    self.failing_since.pop(key, None)
                    failures = 0
                params = {
                    "watch": "1",
                    "labelSelector": SELECTOR,
                    "resourceVersion": rv,
                    "allowWatchBookmarks": "true",
                    "timeoutSeconds": str(WATCH_SECONDS),
                }
                streaming_since = time.monotonic()
                # aclosing: leaving on ERROR closes the connection now, not when the generator is collected
                opened = functools.partial(self.failing_since.pop, key, None)
                stream = self.client.stream(resource.path(), params, on_open=opened)
                async with contextlib.aclosing(stream) as events:
                    async for event in events:
                        self.failing_since.pop(key, None)
                        failures = 0  # it works again: the next failure starts the backoff over
                        obj = event.get("object") or {}
                        etype = event.get("type", "")
                        if etype == "ERROR":
                            rv = None  # 410 Gone: our resourceVersion is too old; list again
                            break
                        rv = str(obj.get("metadata", {}).get("resourceVersion", rv))
                        if etype == "BOOKMARK":
                            continue
                        obj.setdefault("apiVersion", resource.api_version)
                        obj.setdefault("kind", resource.kind)
                        self.on_event(etype, obj)
                if rv is not None:
                    self.failing_since.pop(key, None)  # the server ended the watch on time
                failures = 0
            except asyncio.CancelledError:
                raise
            except ApiError as e:
                metrics.API_ERRORS.labels(status=str(e.status)).inc()
                self.failing_since.setdefault(key, time.monotonic())
                if time.monotonic() - streaming_since > HEALTHY_STREAM_SECONDS:
                    failures = 0  # a watch that streamed for a while and then broke: a fresh failure
                failures += 1
                if e.status == 410:
                    rv = None
                delay = self.backoff(failures)
                log.warning("watch of %s failed (%s); again in %.1fs", resource.kind, e, delay)
                await asyncio.sleep(delay)
            except Exception:  # a watch must outlive any one bad event: list again from scratch
                self.failing_since.setdefault(key, time.monotonic())
                failures += 1
                rv = None
                log.exception("watch of %s broke; listing again", resource.kind)
                await asyncio.sleep(self.backoff(failures))

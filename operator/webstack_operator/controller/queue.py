"""A work queue of stacks: debounced, one reconcile per stack at a time, retried with backoff, bounded.

The semantics of controller-runtime's workqueue, small: a key enqueued many times while waiting runs once;
a key enqueued while it runs runs again afterwards (it may have changed meanwhile); a failed key comes back
after an exponential per-key delay (an unexpected exception too, as controller-runtime requeues every
error); at most `concurrency` keys run at once across the whole operator. It is also the one serialisation
point of a key: other work for it (the finalizer) runs through `exclusive`, never beside a run.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from webstack_operator.reconcile.outcomes import Requeue, Retry
from webstack_operator.telemetry import metrics

log = logging.getLogger("webstack.queue")

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


def exponential_backoff(failures: int) -> float:
    """About 0.5 s after the first failure, doubling, at most about a minute; ±20 % jitter, so stacks that
    failed together (an API server outage) do not all come back in the same instant."""
    return float(min(60.0, 0.5 * 2 ** (failures - 1))) * random.uniform(0.8, 1.2)  # noqa: S311


# The work for one key; `attempt` is 1 + the failures in a row before it.
Work = Callable[[K, int], Awaitable[object]]


class WorkQueue(Generic[K]):
    def __init__(
        self,
        work: Work[K],
        *,
        debounce: float = 0.2,
        concurrency: int = 8,
        backoff: Callable[[int], float] = exponential_backoff,
    ) -> None:
        self._work = work
        self._debounce = debounce
        self._backoff = backoff
        self._concurrency = concurrency
        self._waiting: dict[K, asyncio.TimerHandle] = {}  # keys due later
        self._ready: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()  # keys in _ready
        self._running: set[K] = set()  # keys in a run, or in exclusive work
        self._idle: dict[K, asyncio.Event] = {}  # set when the key's run or exclusive work ends
        self._forgotten: set[K] = set()  # forgotten while running: that run's outcome is dropped
        self._dirty: set[K] = set()  # enqueued while running: run again afterwards
        self._failures: dict[K, int] = {}
        self._not_before: dict[K, float] = {}  # a server's Retry-After: no run of the key before then
        self._workers: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Workers start taking keys (keys enqueued before wait until then)."""
        if not self._workers:
            loop = asyncio.get_running_loop()
            self._workers = [loop.create_task(self._worker()) for _ in range(self._concurrency)]

    def enqueue(self, key: K, delay: float | None = None) -> None:
        """Runs the key after `delay` (default: the debounce); a sooner request wins over a later one."""
        if key in self._running:
            self._forgotten.discard(key)  # back after it was forgotten: this is a new life of the key
            self._dirty.add(key)
            return
        if key in self._queued:
            return
        delay = self._debounce if delay is None else delay
        loop = asyncio.get_running_loop()
        # Any trigger (a child's event, the resync) may bring a retry forward, but never before the time the
        # apiserver asked for: a 429 storm is not hammered by the stack's own events.
        due = max(loop.time() + delay, self._not_before.get(key, 0.0))
        handle = self._waiting.get(key)
        if handle is not None:
            if handle.when() <= due:
                return
            handle.cancel()
        self._waiting[key] = loop.call_at(due, self._make_ready, key)

    def forget(self, key: K) -> None:
        """The key is gone: drop its timer, its failures and any pending re-run."""
        handle = self._waiting.pop(key, None)
        if handle is not None:
            handle.cancel()
        self._dirty.discard(key)
        self._failures.pop(key, None)
        self._not_before.pop(key, None)
        if key in self._running:
            self._forgotten.add(key)

    async def exclusive(self, key: K, work: Callable[[], Awaitable[T]]) -> T:
        """Runs `work` as the key's only run: after the run in flight (if any) ended, and with every other
        run of the key held back until it returns (a key enqueued meanwhile runs after it). Deletion goes
        through here, so nothing a reconcile writes can land after the finalizer began."""
        while key in self._running:
            await self._idle[key].wait()
        self._begin(key)
        try:
            return await work()
        finally:
            self._end(key)
            if key in self._dirty:
                self._dirty.discard(key)
                self.enqueue(key)

    def failures(self, key: K) -> int:
        return self._failures.get(key, 0)

    def __len__(self) -> int:
        """Keys waiting, ready or running."""
        return len(self._waiting.keys() | self._queued | self._running)

    async def close(self) -> None:
        for handle in self._waiting.values():
            handle.cancel()
        self._waiting.clear()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []

    def _make_ready(self, key: K) -> None:
        self._waiting.pop(key, None)
        if key in self._running:
            self._dirty.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def _begin(self, key: K) -> None:
        self._running.add(key)
        self._idle[key] = asyncio.Event()

    def _end(self, key: K) -> None:
        self._running.discard(key)
        self._idle.pop(key).set()

    async def _worker(self) -> None:
        while True:
            key = await self._ready.get()
            self._queued.discard(key)
            if key in self._running:  # made ready before exclusive work on it began: after that work
                self._dirty.add(key)
                continue
            self._begin(key)
            try:
                retry_in = await self._run(key)
            finally:
                self._end(key)
            if key in self._forgotten:  # gone meanwhile: neither its retry nor its failures are kept
                self._forgotten.discard(key)
                self._failures.pop(key, None)
                self._not_before.pop(key, None)
            elif key in self._dirty:  # changed while running: look again soon, whatever the backoff
                self._dirty.discard(key)
                self.enqueue(key)
            elif retry_in is not None:
                self.enqueue(key, retry_in)

    async def _run(self, key: K) -> float | None:
        """Runs the work once; the delay before a retry, or None when done."""
        attempt = self._failures.get(key, 0) + 1
        try:
            await self._work(key, attempt)
        except Requeue as e:
            self._failures.pop(key, None)
            self._not_before.pop(key, None)
            log.debug("%s waits, again in %.1fs: %s", key, e.delay, e)
            return e.delay
        except Retry as e:
            delay = self._failed(key, attempt, e.delay)
            # One line per doubling, not per retry: a storm of 429s must not become a storm of logs.
            level = logging.WARNING if _doubling(attempt) else logging.DEBUG
            log.log(level, "%s failed (attempt %d), again in %.1fs: %s", key, attempt, delay, e)
            return delay
        except Exception:
            # A bug, not the world: retried like any failure (the cause may be a passing state), counted, and
            # logged whole once per doubling of the failures in a row, not once per retry.
            metrics.RECONCILE_EXCEPTIONS.inc()
            delay = self._failed(key, attempt, None)
            level = logging.ERROR if _doubling(attempt) else logging.DEBUG
            log.log(level, "%s raised (attempt %d), again in %.1fs", key, attempt, delay, exc_info=True)
            return delay
        self._failures.pop(key, None)
        self._not_before.pop(key, None)
        return None

    def _failed(self, key: K, attempt: int, retry_after: float | None) -> float:
        """Counts the failure; the delay before the next run: the backoff, or the server's wait if longer."""
        self._failures[key] = attempt
        if retry_after:
            self._not_before[key] = asyncio.get_running_loop().time() + retry_after
        else:
            self._not_before.pop(key, None)
        return max(self._backoff(attempt), retry_after or 0.0)


def _doubling(attempt: int) -> bool:
    """1, 2, 4, 8...: the attempts whose failure is logged."""
    return attempt & (attempt - 1) == 0

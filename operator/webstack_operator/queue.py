"""A work queue of stacks: debounced, one reconcile per stack at a time, retried with backoff, bounded.

The semantics of controller-runtime's workqueue, small: a key enqueued many times while waiting runs once;
a key enqueued while it runs runs again afterwards (it may have changed meanwhile); a failed key comes back
after an exponential per-key delay; at most `concurrency` keys run at once across the whole operator.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

log = logging.getLogger("webstack.queue")

K = TypeVar("K", bound=Hashable)


class Retry(Exception):
    """The work failed in a way a later attempt can fix; `delay` is the least wait before it (a server's
    `Retry-After`), the backoff decides when longer."""

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class Requeue(Exception):
    """The work is done for now but waits on the world (a user's object holding a child's name, a garbage
    collection in progress): look again after `delay`, without counting a failure."""

    def __init__(self, message: str, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


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
        self._running: set[K] = set()
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

    async def _worker(self) -> None:
        while True:
            key = await self._ready.get()
            self._queued.discard(key)
            self._running.add(key)
            try:
                retry_in = await self._run(key)
            finally:
                self._running.discard(key)
            if key in self._dirty:  # changed while running: look again soon, whatever the backoff
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
            self._failures[key] = attempt
            delay = max(self._backoff(attempt), e.delay or 0.0)
            if e.delay:
                self._not_before[key] = asyncio.get_running_loop().time() + e.delay
            else:
                self._not_before.pop(key, None)
            # One line per doubling, not per retry: a storm of 429s must not become a storm of logs.
            level = logging.WARNING if attempt & (attempt - 1) == 0 else logging.DEBUG
            log.log(level, "%s failed (attempt %d), again in %.1fs: %s", key, attempt, delay, e)
            return delay
        except Exception:
            log.exception("%s failed", key)
        self._failures.pop(key, None)
        self._not_before.pop(key, None)
        return None

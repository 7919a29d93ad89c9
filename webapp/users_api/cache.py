"""Cache-aside over Redis for the read routes.

Keys carry a version (`users:<version>:<key>`). A write commits to Postgres, then increments the version, so
every entry written before it becomes unreachable at once; a reader that loaded old rows concurrently stores
them under the old version, where no later reader looks. The version and the entry are read in one round trip
by a small Lua script.

Redis is optional at run time: every call goes through a circuit breaker and any Redis error bypasses the
cache (`X-Cache: BYPASS`). Invalidations that could not be delivered during an outage are replayed first when
Redis answers again, so a partition never leaves stale entries behind.

Concurrent misses for one key are coalesced in-process (single flight): one load from Postgres, shared; so
are identical reads while Redis is unreachable. With the cache disabled by configuration, every read goes to
Postgres (the plain service, and the benchmark's baseline).
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from users_api.circuit import BreakerState, CircuitBreaker
from users_api.metrics import Metrics

log = logging.getLogger(__name__)

VERSION_KEY = "users:version"
KEY_PREFIX = "users:"

# One round trip for a lookup: the current version and the entry stored under it.
_LOOKUP_SCRIPT = """
local version = redis.call('GET', KEYS[1]) or '0'
return {version, redis.call('GET', ARGV[1] .. version .. ':' .. ARGV[2])}
"""

CACHE_FAILURES = (RedisError, OSError, asyncio.TimeoutError)

Loader = Callable[[], Awaitable[bytes]]


class CacheStatus(enum.StrEnum):
    HIT = "HIT"
    MISS = "MISS"
    BYPASS = "BYPASS"


class SingleFlight:
    """Run one load per key at a time; callers arriving meanwhile share its result (or its exception).

    The load runs in its own task, so a caller that disconnects does not cancel it for the others.
    """

    def __init__(self) -> None:
        self._flights: dict[str, asyncio.Task[bytes]] = {}

    def __len__(self) -> int:
        return len(self._flights)

    async def run(self, key: str, load: Loader) -> bytes:
        task = self._flights.get(key)
        if task is None:
            task = asyncio.ensure_future(load())
            self._flights[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        return await asyncio.shield(task)

    def _finished(self, key: str, task: asyncio.Task[bytes]) -> None:
        if self._flights.get(key) is task:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # retrieve it, so an error nobody awaited is not reported as "never retrieved"


class Cache:
    """Read-through entries with a TTL, invalidated by version on every write."""

    def __init__(
        self,
        client: Redis | None,
        *,
        ttl_seconds: int,
        breaker: CircuitBreaker,
        metrics: Metrics,
    ) -> None:
        self._client = client
        self._ttl = ttl_seconds
        self._breaker = breaker
        self._metrics = metrics
        self._flights = SingleFlight()
        self._lookup = client.register_script(_LOOKUP_SCRIPT) if client is not None else None
        # Bumped by every write in this process, so a load that began before a write is never handed to a
        # request that began after it (read-your-writes, also while the cache is bypassed).
        self._generation = 0
        self._invalidation_pending = False

    @property
    def state(self) -> str:
        """`disabled`, or the breaker state: `closed` (healthy), `open` (bypassing), `half-open` (probing)."""
        if self._client is None:
            return "disabled"
        return self._breaker.state.value

    async def fetch(self, route: str, key: str, load: Loader) -> tuple[bytes, CacheStatus]:
        """The encoded body for `key`, from Redis when possible; `load` reads Postgres on a miss."""
        if not await self._available():
            return await self._bypass(route, key, load)
        assert self._lookup is not None
        try:
            version, cached = await self._lookup(keys=[VERSION_KEY], args=[KEY_PREFIX, key])
        except CACHE_FAILURES as exc:
            self._failed("get", exc)
            return await self._bypass(route, key, load)
        self._succeeded()
        if cached is not None:
            self._metrics.cache_hits.labels(route).inc()
            return bytes(cached), CacheStatus.HIT
        self._metrics.cache_misses.labels(route).inc()
        entry_key = f"{KEY_PREFIX}{version.decode()}:{key}"
        body = await self._flights.run(
            f"{self._generation}|{entry_key}", lambda: self._load_and_store(entry_key, load)
        )
        return body, CacheStatus.MISS

    async def invalidate(self) -> None:
        """Called after a write has committed. Never raises: a failed invalidation is retried on recovery."""
        self._generation += 1
        self._invalidation_pending = True
        if self._client is not None and self._breaker.allow():
            await self._replay_invalidation()

    async def _available(self) -> bool:
        if self._client is None or not self._breaker.allow():
            return False
        if self._invalidation_pending:
            return await self._replay_invalidation()
        return True

    async def _replay_invalidation(self) -> bool:
        assert self._client is not None
        try:
            await self._client.incr(VERSION_KEY)
        except CACHE_FAILURES as exc:
            self._failed("invalidate", exc)
            return False
        self._invalidation_pending = False
        self._succeeded()
        return True

    async def _bypass(self, route: str, key: str, load: Loader) -> tuple[bytes, CacheStatus]:
        self._metrics.cache_bypass.labels(route).inc()
        if self._client is None:
            # Cache disabled by configuration: the plain database-backed service, one read per request.
            return await load(), CacheStatus.BYPASS
        # Redis is down: still coalesce identical reads, so the outage does not also flood Postgres.
        body = await self._flights.run(f"{self._generation}|bypass:{key}", load)
        return body, CacheStatus.BYPASS

    async def _load_and_store(self, entry_key: str, load: Loader) -> bytes:
        assert self._client is not None
        # A flight for this key may have finished (and stored) between our lookup and now: look once more
        # rather than read Postgres again.
        if self._breaker.allow():
            try:
                cached = await self._client.get(entry_key)
            except CACHE_FAILURES as exc:
                self._failed("get", exc)
            else:
                self._succeeded()
                if isinstance(cached, bytes):
                    return cached
        body = await load()
        if self._breaker.allow():
            try:
                await self._client.setex(entry_key, self._ttl, body)
            except CACHE_FAILURES as exc:
                self._failed("set", exc)
            else:
                self._succeeded()
        return body

    def _succeeded(self) -> None:
        if self._breaker.state is not BreakerState.CLOSED:
            log.info("cache circuit closed; using Redis again")
        self._breaker.record_success()

    def _failed(self, operation: str, exc: BaseException) -> None:
        was_closed = self._breaker.state is BreakerState.CLOSED
        self._breaker.record_failure()
        self._metrics.cache_errors.labels(operation).inc()
        if was_closed and self._breaker.state is not BreakerState.CLOSED:
            log.warning("cache circuit opened; bypassing Redis", extra={"error": type(exc).__name__})
        else:
            log.debug("cache call failed", extra={"operation": operation, "error": type(exc).__name__})

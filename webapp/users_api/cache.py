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

In front of Redis sits this replica's near cache (`nearcache.py`), when enabled and while its invalidation
connection is up: a hit there answers with no round trip (`X-Cache: HIT`, `X-Cache-Layer: local`). Whatever
Redis returns or the loader produces is kept there too, unless an invalidation arrived since the read began.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from users_api.circuit import BreakerState, CircuitBreaker
from users_api.metrics import Metrics
from users_api.nearcache import NearCache
from webstack_contract import metric_names as names

log = logging.getLogger(__name__)

VERSION_KEY = "users:version"
KEY_PREFIX = "users:"

# One round trip for a lookup: the current version, the entry stored under it, and the entry's remaining
# lifetime in ms (so a near-cache copy never outlives it).
_LOOKUP_SCRIPT = """
local version = redis.call('GET', KEYS[1]) or '0'
local key = ARGV[1] .. version .. ':' .. ARGV[2]
local entry = redis.call('GET', key)
if entry then
  return {version, entry, redis.call('PTTL', key)}
end
return {version, false}
"""

CACHE_FAILURES = (RedisError, OSError, asyncio.TimeoutError)

Loader = Callable[[], Awaitable[bytes]]


class CacheStatus(enum.StrEnum):
    HIT = "HIT"  # from Redis
    LOCAL_HIT = "LOCAL_HIT"  # from this replica's near cache
    MISS = "MISS"
    BYPASS = "BYPASS"


# What a read route answers with, per outcome. `X-Cache` keeps its three values; a hit also names its layer.
# Private: a shared proxy must not keep a copy that our invalidation cannot reach.
_PRIVATE = {"Cache-Control": "private, no-cache"}
RESPONSE_HEADERS: dict[CacheStatus, dict[str, str]] = {
    CacheStatus.LOCAL_HIT: {"X-Cache": "HIT", "X-Cache-Layer": names.LAYER_LOCAL, **_PRIVATE},
    CacheStatus.HIT: {"X-Cache": "HIT", "X-Cache-Layer": names.LAYER_REDIS, **_PRIVATE},
    CacheStatus.MISS: {"X-Cache": "MISS", **_PRIVATE},
    CacheStatus.BYPASS: {"X-Cache": "BYPASS", **_PRIVATE},
}


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
        near: NearCache | None = None,
        routes: Iterable[str] = (),
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
        # Only in front of Redis: without it nothing would invalidate the near cache.
        self._near = near if client is not None else None
        for route in routes:
            # Bound once, local first, so the hit series exist from the start in a stable order.
            for layer in (names.LAYER_LOCAL, names.LAYER_REDIS):
                metrics.child(metrics.cache_hits, route, layer)

    @property
    def near(self) -> NearCache | None:
        return self._near

    @property
    def state(self) -> str:
        """`disabled`, or the breaker state: `closed` (healthy), `open` (bypassing), `half-open` (probing)."""
        if self._client is None:
            return "disabled"
        return self._breaker.state.value

    async def fetch(self, route: str, key: str, load: Loader) -> tuple[bytes, CacheStatus]:
        """The encoded body for `key`: from the near cache, else Redis; `load` reads Postgres on a miss."""
        metrics = self._metrics
        near = self._near
        near_generation, started = 0, 0.0
        if near is not None:
            body = near.get(key)
            if body is not None:
                metrics.child(metrics.cache_hits, route, names.LAYER_LOCAL).inc()
                return body, CacheStatus.LOCAL_HIT
            # Read before asking Redis: an invalidation from here on makes what we fetch unfit to keep.
            near_generation = near.generation
            started = time.monotonic()
        if not await self._available():
            return await self._bypass(route, key, load)
        assert self._lookup is not None
        try:
            version, cached, *remaining_ms = await self._lookup(keys=[VERSION_KEY], args=[KEY_PREFIX, key])
        except CACHE_FAILURES as exc:
            self._failed("get", exc)
            return await self._bypass(route, key, load)
        self._succeeded()
        if cached is not None:
            metrics.child(metrics.cache_hits, route, names.LAYER_REDIS).inc()
            body = bytes(cached)
            if near is not None and remaining_ms and remaining_ms[0] > 0:
                near.put(key, body, expires_at=started + remaining_ms[0] / 1000, generation=near_generation)
            return body, CacheStatus.HIT
        metrics.child(metrics.cache_misses, route).inc()
        entry_key = f"{KEY_PREFIX}{version.decode()}:{key}"
        body = await self._flights.run(
            f"{self._generation}|{entry_key}", lambda: self._load_and_store(entry_key, load)
        )
        if near is not None:
            # Stored in Redis for the TTL after our lookup, so this copy expires no later than that one.
            near.put(key, body, expires_at=started + self._ttl, generation=near_generation)
        return body, CacheStatus.MISS

    async def invalidate(self) -> None:
        """Called after a write has committed. Never raises: a failed invalidation is retried on recovery."""
        self._generation += 1
        if self._near is not None:
            # Our own reads see the write at once; other replicas hear of it through the INCR below.
            self._near.clear()
            self._metrics.child(self._metrics.near_cache_invalidations, "write").inc()
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
        self._metrics.child(self._metrics.cache_bypass, route).inc()
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
        self._metrics.child(self._metrics.cache_errors, operation).inc()
        if self._near is not None:
            # Redis in trouble may mean invalidations in trouble too: let the listener's PING decide, and
            # keep nothing from before meanwhile.
            self._near.clear()
        if was_closed and self._breaker.state is not BreakerState.CLOSED:
            log.warning("cache circuit opened; bypassing Redis", extra={"error": type(exc).__name__})
        else:
            log.debug("cache call failed", extra={"operation": operation, "error": type(exc).__name__})

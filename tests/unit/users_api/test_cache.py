"""Cache pieces that need no server: single flight coalescing, and the bypass path without Redis."""

from __future__ import annotations

import asyncio

import pytest

from users_api.cache import Cache, CacheStatus, SingleFlight
from users_api.circuit import CircuitBreaker
from users_api.metrics import Metrics
from users_api.nearcache import NearCache


async def test_single_flight_runs_one_load_for_concurrent_callers() -> None:
    flights = SingleFlight()
    release = asyncio.Event()
    calls = 0

    async def load() -> bytes:
        nonlocal calls
        calls += 1
        await release.wait()
        return b"value"

    waiters = [asyncio.create_task(flights.run("k", load)) for _ in range(50)]
    await asyncio.sleep(0)
    assert len(flights) == 1
    release.set()
    assert await asyncio.gather(*waiters) == [b"value"] * 50
    assert calls == 1
    assert len(flights) == 0  # finished flights are forgotten: the next call loads again


async def test_single_flight_shares_errors_and_survives_a_cancelled_caller() -> None:
    flights = SingleFlight()
    release = asyncio.Event()

    async def load() -> bytes:
        await release.wait()
        raise LookupError("gone")

    first = asyncio.create_task(flights.run("k", load))
    second = asyncio.create_task(flights.run("k", load))
    await asyncio.sleep(0)
    first.cancel()  # e.g. the client disconnected
    release.set()
    with pytest.raises(LookupError):
        await second
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_without_redis_every_read_bypasses_and_writes_do_not_fail() -> None:
    metrics = Metrics()
    cache = Cache(
        None, ttl_seconds=30, breaker=CircuitBreaker(failure_threshold=1, reset_seconds=1), metrics=metrics
    )

    async def load() -> bytes:
        return b"[]"

    assert await cache.fetch("/api/users", "list", load) == (b"[]", CacheStatus.BYPASS)
    await cache.invalidate()
    assert cache.state == "disabled"
    assert metrics.cache_bypass.labels("/api/users")._value.get() == 1


class FakeRedis:
    """Enough of redis.asyncio.Redis for Cache: the lookup script, GET, SETEX, INCR (which can be held)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}
        self.lookups = 0
        self.incr_gate: asyncio.Event | None = None

    def register_script(self, script: str) -> object:
        async def lookup(keys: list[str], args: list[str]) -> list[object]:
            self.lookups += 1
            version = self.data.get(keys[0], b"0")
            entry = self.data.get(f"{args[0]}{version.decode()}:{args[1]}")
            return [version, entry, 30_000] if entry is not None else [version, None]

        return lookup

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def setex(self, key: str, ttl: int, value: bytes) -> None:
        self.data[key] = value

    async def incr(self, key: str) -> int:
        if self.incr_gate is not None:
            await self.incr_gate.wait()
        value = int(self.data.get(key, b"0")) + 1
        self.data[key] = str(value).encode()
        return value


def near_cache_over(redis: FakeRedis) -> tuple[Cache, NearCache]:
    near = NearCache(max_entries=100, max_bytes=100_000)
    near.activate()
    breaker = CircuitBreaker(failure_threshold=3, reset_seconds=1)
    cache = Cache(redis, ttl_seconds=30, breaker=breaker, metrics=Metrics(), near=near)  # type: ignore[arg-type]
    return cache, near


async def test_a_local_hit_asks_redis_nothing() -> None:
    redis = FakeRedis()
    cache, _ = near_cache_over(redis)

    async def load() -> bytes:
        return b"body"

    assert await cache.fetch("/r", "k", load) == (b"body", CacheStatus.MISS)
    assert await cache.fetch("/r", "k", load) == (b"body", CacheStatus.LOCAL_HIT)
    assert redis.lookups == 1


async def test_reads_overlapping_our_own_write_neither_serve_nor_keep_the_old_body() -> None:
    """Read-your-writes before our own invalidation message arrives: a read that starts once the write has
    committed first replays the version bump, so its lookup can only find the new version."""
    redis = FakeRedis()
    redis.data["users:0:k"] = b"old"
    cache, _ = near_cache_over(redis)
    redis.incr_gate = asyncio.Event()

    async def load_new() -> bytes:
        return b"new"

    writing = asyncio.create_task(cache.invalidate())  # committed; its INCR is on the wire
    await asyncio.sleep(0)
    reading = asyncio.create_task(cache.fetch("/r", "k", load_new))
    await asyncio.sleep(0)
    redis.incr_gate.set()
    await writing
    assert await reading == (b"new", CacheStatus.MISS)
    assert await cache.fetch("/r", "k", load_new) == (b"new", CacheStatus.LOCAL_HIT)


async def test_a_fill_that_overlapped_an_invalidation_is_served_once_but_not_kept() -> None:
    redis = FakeRedis()
    redis.data["users:0:k"] = b"old"
    cache, near = near_cache_over(redis)
    release = asyncio.Event()
    original = redis.register_script("")

    async def slow_lookup(keys: list[str], args: list[str]) -> object:
        await release.wait()
        return await original(keys=keys, args=args)  # type: ignore[operator]

    cache._lookup = slow_lookup  # type: ignore[assignment]

    async def load() -> bytes:
        return b"loaded"

    reading = asyncio.create_task(cache.fetch("/r", "k", load))
    await asyncio.sleep(0)
    near.clear()  # another replica's write was announced while the lookup was on the wire
    release.set()
    assert await reading == (b"old", CacheStatus.HIT)  # it overlapped the write: either answer is fair
    assert near.get("k") is None  # but it is not kept for later reads

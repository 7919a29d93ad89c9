"""Cache pieces that need no server: single flight coalescing, and the bypass path without Redis."""

from __future__ import annotations

import asyncio

import pytest

from users_api.cache import Cache, CacheStatus, SingleFlight
from users_api.circuit import CircuitBreaker
from users_api.metrics import Metrics


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

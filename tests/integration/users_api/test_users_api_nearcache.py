"""The near cache across replicas: two `users-api serve` processes on one Postgres and one Redis.

A replica answers hits from its own memory (`X-Cache-Layer: local`) only while Redis can tell it about
writes; these tests write through one replica (or behind both, as a restore does) and check the other one
never serves the old body once the invalidation is delivered, also when that delivery path breaks.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import redis.asyncio as aioredis
from tests.support.polling import eventually
from tests.support.users_api import api_env, metric

from localservices import PostgresServer, RedisServer, UsersApiServer
from users_api.invalidation import CONNECTION_NAME

pytestmark = pytest.mark.services

# How soon after a write returns the other replica must serve the new body: loopback delivery takes well
# under a millisecond; the rest is slack for two busy cores.
DELIVERY_BOUND_SECONDS = 0.1


@pytest.fixture(scope="module")
def replicas(postgres: PostgresServer, redis_server: RedisServer) -> Iterator[tuple[UsersApiServer, ...]]:
    env = api_env(postgres, redis_server)
    with UsersApiServer(env=env) as first, UsersApiServer(env=env, migrate_at_start=False) as second:
        yield first, second


@pytest.fixture
async def clients(
    replicas: tuple[UsersApiServer, ...], clean_state: None
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    async with (
        httpx.AsyncClient(base_url=replicas[0].url, timeout=10) as writer,
        httpx.AsyncClient(base_url=replicas[1].url, timeout=10) as reader,
    ):
        # clean_state's FLUSHDB reached both near caches as an invalidation; wait until both listen again.
        for client in (writer, reader):
            await eventually(
                lambda client=client: metric(client, "users_api_near_cache_active"),
                until=lambda value: value == 1,
                what="the near cache to be active",
            )
        yield writer, reader


async def read(client: httpx.AsyncClient, path: str) -> tuple[str, str | None, dict[str, object]]:
    """(X-Cache, X-Cache-Layer, body) of a 200 read."""
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"], response.headers.get("x-cache-layer"), response.json()


async def create(client: httpx.AsyncClient, email: str, name: str = "Near") -> int:
    response = await client.post("/api/users", json={"email": email, "name": name})
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


async def warm_locally(client: httpx.AsyncClient, path: str) -> dict[str, object]:
    """Read until the replica answers from its own memory; the body it holds."""
    cache, _, body = await eventually(
        lambda: read(client, path), until=lambda seen: seen[1] == "local", what=f"a local hit of {path}"
    )
    assert cache == "HIT"
    return body


async def first_read_of(
    client: httpx.AsyncClient, path: str, expected_name: str, *, within: float
) -> tuple[float, int]:
    """Poll `path` until the body has `expected_name`: seconds it took and reads that saw another name."""
    started = time.monotonic()
    stale = 0
    while True:
        _, _, body = await read(client, path)
        elapsed = time.monotonic() - started
        if body["name"] == expected_name:
            return elapsed, stale
        stale += 1
        assert elapsed < within, f"still {body['name']!r} after {elapsed:.3f} s ({stale} stale reads)"


async def test_other_replica_serves_the_new_body_within_the_bound_after_a_write(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    writer, reader = clients
    user_id = await create(writer, "two@example.com", "Before")
    path = f"/api/users/{user_id}"
    assert (await warm_locally(reader, path))["name"] == "Before"
    await warm_locally(reader, "/api/users")

    patched = await writer.patch(path, json={"name": "After"})
    assert patched.status_code == 200

    elapsed, _ = await first_read_of(reader, path, "After", within=DELIVERY_BOUND_SECONDS)
    assert elapsed < DELIVERY_BOUND_SECONDS
    # Once delivered, never the old body again, from either layer, on either route.
    for _ in range(20):
        assert (await read(reader, path))[2]["name"] == "After"
        assert (await read(reader, "/api/users"))[2]["items"][0]["name"] == "After"
    assert (await warm_locally(reader, path))["name"] == "After"


async def test_the_writer_reads_its_own_write_immediately(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    writer, _ = clients
    user_id = await create(writer, "own@example.com", "Before")
    path = f"/api/users/{user_id}"
    await warm_locally(writer, path)
    await warm_locally(writer, "/api/users")

    assert (await writer.patch(path, json={"name": "After"})).status_code == 200

    # The very next reads, no polling: the write emptied this replica's near cache before it answered.
    assert (await read(writer, path))[2]["name"] == "After"
    assert (await read(writer, "/api/users"))[2]["items"][0]["name"] == "After"
    assert (await writer.delete(path)).status_code == 204
    assert (await writer.get(path)).status_code == 404
    assert (await read(writer, "/api/users"))[2]["items"] == []


async def test_killed_invalidation_connection_drops_entries_and_resumes_without_stale_reads(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], redis_server: RedisServer
) -> None:
    writer, reader = clients
    user_id = await create(writer, "kill@example.com", "Before")
    path = f"/api/users/{user_id}"
    await warm_locally(reader, path)
    assert await metric(reader, "users_api_near_cache_entries") >= 1
    lost = {"reason": "connection_lost"}
    lost_before = await metric(reader, "users_api_near_cache_invalidations_total", lost)

    admin = aioredis.Redis.from_url(redis_server.url, password=redis_server.password)
    try:
        killed = await admin.execute_command("CLIENT", "KILL", "SKIPME", "yes", "TYPE", "pubsub")
        assert killed >= 2  # one invalidation connection per replica
        # A write right behind the kill, before the replicas can have reconnected.
        assert (await writer.patch(path, json={"name": "After"})).status_code == 200
        assert (await read(reader, path))[2]["name"] == "After"
    finally:
        await admin.aclose()

    assert await metric(reader, "users_api_near_cache_invalidations_total", lost) == lost_before + 1
    # Resumed by itself: local hits again, of the new body only.
    assert (await warm_locally(reader, path))["name"] == "After"
    assert await metric(reader, "users_api_near_cache_active") == 1


async def test_incr_of_the_version_by_hand_invalidates_every_replica(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
    postgres: PostgresServer,
    redis_server: RedisServer,
) -> None:
    """The step of docs/ops/backup-dr.md after a restore: the data changed behind the API's back."""
    replicas = clients
    user_id = await create(replicas[0], "restore@example.com", "Before")
    path = f"/api/users/{user_id}"
    for client in replicas:
        await warm_locally(client, path)

    postgres.psql(f"UPDATE users SET name = 'Restored' WHERE id = {user_id}")
    for client in replicas:
        assert (await read(client, path))[2]["name"] == "Before"  # as expected: nobody told the API

    admin = aioredis.Redis.from_url(redis_server.url, password=redis_server.password)
    try:
        await admin.incr("users:version")
    finally:
        await admin.aclose()

    for client in replicas:
        await first_read_of(client, path, "Restored", within=DELIVERY_BOUND_SECONDS)
        assert (await warm_locally(client, path))["name"] == "Restored"


async def test_invalidation_connection_carries_its_name(redis_server: RedisServer, clients: object) -> None:
    admin = aioredis.Redis.from_url(redis_server.url, password=redis_server.password)
    try:
        listed = await admin.client_list()
    finally:
        await admin.aclose()
    listeners = [c for c in listed if c["name"] == CONNECTION_NAME]
    assert len(listeners) >= 2  # ours, and any other API on the shared Redis
    assert all("P" in c["flags"] and "t" in c["flags"] for c in listeners)  # pubsub, tracking


async def test_redis_restart_drops_entries_without_stale_reads_and_the_near_cache_resumes(
    postgres: PostgresServer, own_redis: RedisServer, clean_state: None
) -> None:
    env = api_env(postgres, own_redis, CACHE_BREAKER_RESET_SECONDS="0.5")
    with UsersApiServer(env=env) as first, UsersApiServer(env=env, migrate_at_start=False) as second:
        async with (
            httpx.AsyncClient(base_url=first.url, timeout=10) as writer,
            httpx.AsyncClient(base_url=second.url, timeout=10) as reader,
        ):
            user_id = await create(writer, "restart@example.com", "Before")
            path = f"/api/users/{user_id}"
            await warm_locally(reader, path)

            own_redis.stop()
            # Dropped at once: the next read is not answered from memory.
            cache, layer, _ = await read(reader, path)
            assert layer != "local", cache
            assert await metric(reader, "users_api_near_cache_entries") == 0
            assert await metric(reader, "users_api_near_cache_active") == 0
            # A write during the outage, and no stale read of it on the other replica.
            assert (await writer.patch(path, json={"name": "During"})).status_code == 200
            for _ in range(5):
                assert await read(reader, path) == ("BYPASS", None, (await read(writer, path))[2])
                assert (await read(reader, path))[2]["name"] == "During"

            own_redis.start()
            assert (await writer.patch(path, json={"name": "After"})).status_code == 200

            async def reader_state() -> tuple[str | None, object]:
                _, layer, body = await read(reader, path)
                assert body["name"] == "After", body  # never stale while it recovers
                return layer, body["name"]

            await eventually(reader_state, until=lambda seen: seen[0] == "local", within=20, what="resume")
            assert await metric(reader, "users_api_near_cache_active") == 1


async def test_size_limit_holds_with_more_keys_than_it_may_keep(
    postgres: PostgresServer, redis_server: RedisServer, clean_state: None
) -> None:
    max_entries, max_bytes = 20, 8192
    env = api_env(
        postgres, redis_server, NEAR_CACHE_MAX_ENTRIES=str(max_entries), NEAR_CACHE_MAX_BYTES=str(max_bytes)
    )
    with UsersApiServer(env=env) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            await eventually(
                lambda: metric(client, "users_api_near_cache_active"),
                until=lambda value: value == 1,
                what="the near cache to be active",
            )
            ids = [await create(client, f"bound{index}@example.com") for index in range(60)]
            paths = [f"/api/users/{user_id}" for user_id in ids]
            paths += [f"/api/users?limit={limit}" for limit in range(1, 61)]  # pages up to ~8 KiB each
            for path in paths * 2:
                await read(client, path)
                assert await metric(client, "users_api_near_cache_entries") <= max_entries
                assert await metric(client, "users_api_near_cache_bytes") <= max_bytes
            # Still a working cache: a recent small entry is served from memory.
            await read(client, paths[0])
            assert (await read(client, paths[0]))[1] == "local"

"""Cache-aside seen from outside: X-Cache, invalidation on writes, TTL, coalescing, concurrency."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator

import asyncpg
import httpx
import pytest
from tests.support.polling import eventually
from tests.support.users_api import api_env, metric

from localservices import PostgresServer, RedisServer, UsersApiServer

pytestmark = pytest.mark.services


async def create(client: httpx.AsyncClient, email: str) -> dict[str, object]:
    response = await client.post("/api/users", json={"email": email, "name": "Cache Test"})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def x_cache(client: httpx.AsyncClient, path: str) -> str:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.headers["x-cache"]


async def test_second_read_is_a_hit_for_both_routes(client: httpx.AsyncClient) -> None:
    user = await create(client, "hit@example.com")
    for path in ("/api/users?limit=10", f"/api/users/{user['id']}"):
        assert await x_cache(client, path) == "MISS"
        assert await x_cache(client, path) == "HIT"


async def test_hit_returns_the_same_body_as_the_miss(client: httpx.AsyncClient) -> None:
    await create(client, "same@example.com")
    miss = await client.get("/api/users")
    hit = await client.get("/api/users")
    assert (miss.headers["x-cache"], hit.headers["x-cache"]) == ("MISS", "HIT")
    assert hit.content == miss.content


async def test_every_write_invalidates_list_and_item(client: httpx.AsyncClient) -> None:
    user = await create(client, "inv@example.com")
    item = f"/api/users/{user['id']}"

    async def warm() -> None:
        for path in ("/api/users", item):
            await client.get(path)
            assert await x_cache(client, path) == "HIT"

    await warm()
    await create(client, "second@example.com")
    listed = await client.get("/api/users")
    assert listed.headers["x-cache"] == "MISS"
    assert [u["email"] for u in listed.json()["items"]] == ["inv@example.com", "second@example.com"]

    await warm()
    patched = await client.patch(item, json={"name": "Renamed"})
    assert patched.status_code == 200
    fresh = await client.get(item)
    assert (fresh.headers["x-cache"], fresh.json()["name"]) == ("MISS", "Renamed")
    assert (await client.get("/api/users")).json()["items"][0]["name"] == "Renamed"

    await warm()
    assert (await client.delete(item)).status_code == 204
    assert (await client.get(item)).status_code == 404
    assert [u["email"] for u in (await client.get("/api/users")).json()["items"]] == ["second@example.com"]


async def test_cache_metrics_count_hits_and_misses(client: httpx.AsyncClient) -> None:
    labels = {"route": "/api/users"}
    hits, misses = (
        await metric(client, "users_api_cache_hits_total", labels),
        await metric(client, "users_api_cache_misses_total", labels),
    )
    await client.get("/api/users?limit=3")
    await client.get("/api/users?limit=3")
    assert await metric(client, "users_api_cache_misses_total", labels) == misses + 1
    assert await metric(client, "users_api_cache_hits_total", labels) == hits + 1


async def test_100_concurrent_misses_of_one_key_read_postgres_once(
    client: httpx.AsyncClient, postgres: PostgresServer
) -> None:
    user = await create(client, "herd@example.com")
    path = f"/api/users/{user['id']}"
    reads = {"operation": "get_user"}
    misses = {"route": "/api/users/{id}"}
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=100)
    blocker = await asyncpg.connect(postgres.dsn)
    async with httpx.AsyncClient(base_url=str(client.base_url), limits=limits, timeout=30) as herd:
        reads_before = await metric(client, "users_api_db_queries_total", reads)
        misses_before = await metric(client, "users_api_cache_misses_total", misses)
        # Hold the table so the first read cannot finish until every request has missed and is waiting:
        # without this, the first load usually completes before the others arrive and they simply hit.
        transaction = blocker.transaction()
        await transaction.start()
        await blocker.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        try:
            herd_requests = asyncio.gather(*(herd.get(path) for _ in range(100)))
            await eventually(
                lambda: metric(client, "users_api_cache_misses_total", misses),
                until=lambda value: value == misses_before + 100,
                what="100 cache misses waiting on one load",
            )
        finally:
            await transaction.rollback()
            await blocker.close()
        responses = await herd_requests

    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert Counter(r.headers["x-cache"] for r in responses) == {"MISS": 100}
    assert await metric(client, "users_api_db_queries_total", reads) == reads_before + 1


async def test_concurrent_creates_of_one_email_yield_exactly_one_201(client: httpx.AsyncClient) -> None:
    variants = ["race@example.com", "RACE@example.com", "Race@Example.com", "race@EXAMPLE.COM"] * 5

    responses = await asyncio.gather(
        *(client.post("/api/users", json={"email": email, "name": "Racer"}) for email in variants)
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: len(variants) - 1}, statuses
    assert len((await client.get("/api/users")).json()["items"]) == 1


@pytest.fixture(scope="module")
def short_ttl_api(postgres: PostgresServer, redis_server: RedisServer) -> Iterator[UsersApiServer]:
    with UsersApiServer(env=api_env(postgres, redis_server, CACHE_TTL_SECONDS="1")) as server:
        yield server


async def test_entries_expire_after_the_ttl(short_ttl_api: UsersApiServer, clean_state: None) -> None:
    async with httpx.AsyncClient(base_url=short_ttl_api.url, timeout=10) as client:
        await create(client, "ttl@example.com")
        assert await x_cache(client, "/api/users") == "MISS"
        assert await x_cache(client, "/api/users") == "HIT"
        # No write happens: only the TTL can turn the entry back into a miss.
        await eventually(
            lambda: x_cache(client, "/api/users"), until=lambda s: s == "MISS", within=10, what="expiry"
        )


async def test_without_redis_url_every_read_bypasses(postgres: PostgresServer, clean_state: None) -> None:
    with UsersApiServer(env=api_env(postgres, None)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            user = await create(client, "nocache@example.com")
            for path in ("/api/users", "/api/users", f"/api/users/{user['id']}"):
                assert await x_cache(client, path) == "BYPASS"
            assert (await client.get("/readyz")).json()["checks"]["cache"] == "disabled"
            assert await metric(client, "users_api_cache_bypass_total", {"route": "/api/users"}) == 2

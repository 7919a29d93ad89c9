"""Dependencies failing under a running API: Redis killed (reads bypass, then recover) and Postgres stopped
(503 problem+json, /readyz fails, then recovers). Each test breaks its own servers, never the shared ones."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.support.polling import eventually
from tests.support.users_api import api_env, assert_problem, metric

from localservices import PostgresServer, RedisServer, UsersApiServer

pytestmark = pytest.mark.services


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


async def test_redis_killed_mid_test_bypasses_then_recovers(
    postgres: PostgresServer, own_redis: RedisServer, clean_state: None
) -> None:
    env = api_env(postgres, own_redis, CACHE_BREAKER_RESET_SECONDS="0.5")
    with UsersApiServer(env=env) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            created = (await client.post("/api/users", json={"email": "r@example.com", "name": "R"})).json()
            await client.get("/api/users")
            assert (await client.get("/api/users")).headers["x-cache"] == "HIT"

            own_redis.kill()

            # Every request still succeeds; the first ones pay one failed Redis call, then the circuit opens.
            for _ in range(10):
                response = await client.get("/api/users")
                assert response.status_code == 200
                assert response.headers["x-cache"] == "BYPASS"
                assert response.json()["items"][0]["email"] == "r@example.com"
            item = await client.get(f"/api/users/{created['id']}")
            assert (item.status_code, item.headers["x-cache"]) == (200, "BYPASS")
            # Writes too: the invalidation they could not deliver is replayed when Redis is back.
            assert (await client.patch(f"/api/users/{created['id']}", json={"name": "R2"})).status_code == 200
            assert (await client.get(f"/api/users/{created['id']}")).json()["name"] == "R2"
            ready = await client.get("/readyz")
            assert ready.status_code == 200
            assert ready.json()["checks"]["cache"] in {"open", "half-open"}
            assert await metric(client, "users_api_cache_errors_total", {"operation": "get"}) >= 1

            own_redis.start()

            async def list_cache_state() -> str:
                response = await client.get("/api/users")
                assert response.status_code == 200
                return response.headers["x-cache"]

            await eventually(
                list_cache_state, until=lambda s: s == "HIT", within=15, what="the cache to be used again"
            )
            assert (await client.get("/readyz")).json()["checks"]["cache"] == "closed"
            assert (await client.get(f"/api/users/{created['id']}")).json()["name"] == "R2"


async def test_stale_entries_from_before_a_partition_are_not_served(
    postgres: PostgresServer, own_redis: RedisServer, clean_state: None
) -> None:
    """Redis keeps its data but is unreachable while a write commits: that write's invalidation must not be
    lost. SIGSTOP freezes Redis (a partition that keeps the data); SIGCONT ends it."""
    import os
    import signal

    env = api_env(postgres, own_redis, CACHE_BREAKER_RESET_SECONDS="0.5", CACHE_TIMEOUT_SECONDS="0.2")
    with UsersApiServer(env=env) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=10) as client:
            created = (
                await client.post("/api/users", json={"email": "p@example.com", "name": "Before"})
            ).json()
            path = f"/api/users/{created['id']}"
            await client.get(path)
            assert (await client.get(path)).headers["x-cache"] == "HIT"

            assert own_redis.pid is not None
            os.kill(own_redis.pid, signal.SIGSTOP)
            try:
                patched = await client.patch(path, json={"name": "After"})
                assert patched.status_code == 200
                assert (await client.get(path)).json()["name"] == "After"
            finally:
                os.kill(own_redis.pid, signal.SIGCONT)

            async def served() -> tuple[str, str]:
                response = await client.get(path)
                return response.headers["x-cache"], response.json()["name"]

            seen = await eventually(
                served, until=lambda s: s[0] != "BYPASS", within=15, what="cache recovery"
            )
            assert seen[1] == "After"
            assert await served() == ("HIT", "After")


async def test_postgres_stopped_gives_503_and_recovers(
    own_postgres: PostgresServer, redis_server: RedisServer
) -> None:
    with UsersApiServer(env=api_env(own_postgres, redis_server)) as api:
        async with httpx.AsyncClient(base_url=api.url, timeout=20) as client:
            created = await client.post("/api/users", json={"email": "pg@example.com", "name": "P"})
            assert created.status_code == 201
            assert (await client.get("/readyz")).status_code == 200

            own_postgres.stop()

            body = assert_problem(
                await client.post("/api/users", json={"email": "x@example.com", "name": "X"}), 503
            )
            assert "unavailable" in str(body["detail"])
            assert_problem(await client.get("/api/users/424242"), 503)
            ready = assert_problem(await client.get("/readyz"), 503)
            assert ready["checks"] == {"database": "unreachable", "cache": "closed"}
            assert (await client.get("/healthz")).status_code == 200  # alive: a restart would not help
            # What the WebStackPostgresUnreachable alert counts: each 503 above, by operation.
            unavailable = "users_api_db_unavailable_total"
            assert await metric(client, unavailable, {"operation": "create_user"}) == 1
            assert await metric(client, unavailable, {"operation": "ping"}) == 1

            own_postgres.start()

            await eventually(
                lambda: client.get("/readyz"),
                until=lambda r: r.status_code == 200,
                within=30,
                what="readiness",
            )
            again = await client.post("/api/users", json={"email": "x@example.com", "name": "X"})
            assert again.status_code == 201
            assert (await client.get(f"/api/users/{again.json()['id']}")).status_code == 200

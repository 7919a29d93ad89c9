"""The users API under test: the environment its processes get, an empty users table to start from, and
checks of its answers (RFC 9457 problems, Prometheus samples)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import redis
from prometheus_client.parser import text_string_to_metric_families

from localservices import PostgresServer, RedisServer

__all__ = [
    "api_env",
    "assert_problem",
    "empty_users_table",
    "metric",
    "sample",
]


def api_env(postgres: PostgresServer, redis_server: RedisServer | None, **extra: str) -> dict[str, str]:
    """The environment a pod would get, pointed at local servers.

    A Redis call may take 2 s before it counts as failed (production default: 0.25 s): tests share two busy
    cores, and a read that bypassed the cache for want of CPU would make every X-Cache assertion flaky.
    Outage tests that need the short timeout pass their own.
    """
    env = {
        "DATABASE_URL": postgres.dsn,
        "REDIS_URL": redis_server.url if redis_server else "",
        "REDIS_PASSWORD": redis_server.password if redis_server else "",
        "CACHE_TIMEOUT_SECONDS": "2",
    }
    env.update(extra)
    return env


def sample(metrics_text: str, name: str, labels: Mapping[str, str] | None = None) -> float:
    """One sample's value in a Prometheus text exposition (0 when absent)."""
    for family in text_string_to_metric_families(metrics_text):
        for metric in family.samples:
            if metric.name == name and all(metric.labels.get(k) == v for k, v in (labels or {}).items()):
                return float(metric.value)
    return 0.0


async def metric(client: httpx.AsyncClient, name: str, labels: Mapping[str, str] | None = None) -> float:
    response = await client.get("/metrics")
    assert response.status_code == 200
    return sample(response.text, name, labels)


def assert_problem(response: httpx.Response, status: int) -> dict[str, object]:
    """The response is an RFC 9457 problem with this status, and leaks nothing about the internals."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    for leak in ("Traceback", "asyncpg", "SELECT", "INSERT", "UPDATE ", "DELETE FROM", 'File "'):
        assert leak not in response.text, response.text
    return dict(body)


def empty_users_table(postgres: PostgresServer, redis_server: RedisServer) -> None:
    """No users, ids from 1 again, nothing cached: where a test that asks for a clean state starts."""
    postgres.psql(
        "DO $$ BEGIN IF to_regclass('users') IS NOT NULL THEN TRUNCATE users RESTART IDENTITY; END IF; END $$"
    )
    client = redis.Redis.from_url(redis_server.url, password=redis_server.password)
    try:
        client.flushdb()
    finally:
        client.close()

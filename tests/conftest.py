"""Shared fixtures: real Postgres, Redis and `users-api serve` processes, started once per session on demand.

Tests that break a server on purpose (stop Postgres, kill Redis) start their own instances, so the shared
ones stay healthy for everyone else.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from tests.helpers import api_env, empty_users_table

from localservices import PostgresServer, PrometheusServer, RedisServer, UsersApiServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def prometheus() -> Iterator[PrometheusServer]:
    """A fresh Prometheus (1s scrape and evaluation) scraping itself; `configure()` adds targets and rules."""
    with PrometheusServer() as server:
        yield server


@pytest.fixture(scope="session")
def api(postgres: PostgresServer, redis_server: RedisServer) -> Iterator[UsersApiServer]:
    with UsersApiServer(env=api_env(postgres, redis_server)) as server:
        yield server


@pytest.fixture
def clean_state(postgres: PostgresServer, redis_server: RedisServer) -> None:
    """An empty users table (ids from 1 again) and an empty cache, before each test that asks for it.

    Synchronous on purpose: the browser tests hold Playwright's event loop, where no async fixture can run.
    """
    empty_users_table(postgres, redis_server)


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis of the test's own, for tests that stop, kill or restart it."""
    with RedisServer() as server:
        yield server


@pytest.fixture
async def client(api: UsersApiServer, clean_state: None) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url, timeout=20) as http:
        yield http

"""Shared fixtures: real Postgres, Redis and `users-api serve` processes, started once per session on demand.

Tests that break a server on purpose (stop Postgres, kill Redis) start their own instances, so the shared
ones stay healthy for everyone else.

The session records every password it generates or reads from a cluster and keeps every log its processes
write (kubelocal.leaks, in WEBSTACK_LEAK_DIR); the last test, tests/zz_final, searches them all.

`make test` (scripts/test.sh) runs the suite on parallel workers (pytest-xdist, `--dist loadfile`): the
tests of one file stay on one worker, so a module's fixtures start once; the real-node suites share one
worker, which alone starts the machine's single real node. Then a serial part: the files whose tests share
a node id (which xdist cannot tell apart) and, last, the final search over every worker's logs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from tests.support.scheduling import FilesWithRealNodeSuitesTogether
from tests.support.users_api import api_env, empty_users_table
from xdist.remote import Producer
from xdist.scheduler import LoadFileScheduling

from kubelocal import leaks
from localservices import PostgresServer, PrometheusServer, RedisServer, UsersApiServer
from localservices.passwords import webstack_passwords

FINAL_SCAN = "tests/zz_final/"
_CREATED_LEAK_DIR: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    if not os.environ.get(leaks.LEAK_DIR_VARIABLE):
        path = tempfile.mkdtemp(prefix="webstack-leaks-")
        os.environ[leaks.LEAK_DIR_VARIABLE] = path
        _CREATED_LEAK_DIR.append(path)
    if webstack_passwords not in leaks.HARVESTERS:
        leaks.HARVESTERS.append(webstack_passwords)


def pytest_unconfigure(config: pytest.Config) -> None:
    for path in _CREATED_LEAK_DIR:
        shutil.rmtree(path, ignore_errors=True)
        if os.environ.get(leaks.LEAK_DIR_VARIABLE) == path:
            del os.environ[leaks.LEAK_DIR_VARIABLE]
    _CREATED_LEAK_DIR.clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The search of every log runs after every other test, whatever the collection order."""
    items.sort(key=lambda item: item.nodeid.startswith(FINAL_SCAN))
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    if any(i.nodeid.startswith(FINAL_SCAN) for i in items):
        raise pytest.UsageError(
            f"{FINAL_SCAN} searches the logs of every other test: run it after the parallel run "
            f"(scripts/test.sh), not on a worker (--ignore={FINAL_SCAN})"
        )


@pytest.hookimpl(optionalhook=True)  # `-p no:xdist` still runs the suite in one process
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadFileScheduling | None:
    # Not xdist_group marks with --dist loadgroup: xdist 3.8 tags a grouped test through a node attribute
    # pytest 9.2 no longer reads, so the groups were silently ignored.
    if config.getvalue("dist") != "loadfile":
        return None
    return FilesWithRealNodeSuitesTogether(config, log)


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

"""Opening Postgres at startup: the pool, the migrations, and patience while the database comes up.

In a fresh WebStack the API and its Postgres start together; retrying for a bounded time is gentler (and
faster) than crash-looping into Kubernetes' exponential back-off.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from users_api.migrate import apply_migrations
from users_api.settings import Settings
from users_api.users import DATABASE_UNAVAILABLE

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 5.0
COMMAND_TIMEOUT_SECONDS = 10.0
# Start-up retries: 0.2, 0.4, 0.8, then every second. A refused connect costs nothing (kube-proxy rejects it
# at once while the client Service has no ready endpoint), so a longer wait would only delay the first query
# after Postgres turns Ready — by up to the cap.
FIRST_RETRY_DELAY_SECONDS = 0.2
MAX_RETRY_DELAY_SECONDS = 1.0
T = TypeVar("T")


async def retry_while_unavailable(
    action: Callable[[], Awaitable[T]],
    *,
    what: str,
    limit_seconds: float,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """Run `action`, retrying with capped back-off while the database is unreachable, up to a time limit.

    The last error is raised once the next wait would end past `limit_seconds` (DB_STARTUP_TIMEOUT_SECONDS);
    the clock and the sleep are injected so a test can drive it without waiting.
    """
    deadline = clock() + limit_seconds
    delay = FIRST_RETRY_DELAY_SECONDS
    while True:
        try:
            return await action()
        except DATABASE_UNAVAILABLE as exc:
            if clock() + delay > deadline:
                raise
            log.warning(
                "database not reachable yet; retrying", extra={"step": what, "error": type(exc).__name__}
            )
            await sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_SECONDS)


async def migrate(settings: Settings) -> list[str]:
    """Apply pending migrations on a dedicated connection (the advisory lock is held by a session)."""
    dsn = settings.database_url.get_secret_value()

    async def run() -> list[str]:
        connection = await asyncpg.connect(dsn, timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            return await apply_migrations(connection)
        finally:
            await connection.close()

    applied = await retry_while_unavailable(
        run, what="migrate", limit_seconds=settings.db_startup_timeout_seconds
    )
    log.info("migrations up to date", extra={"applied": applied})
    return applied


async def keep_session(connection: asyncpg.Connection) -> None:
    """The pool's reset hook: nothing to undo (pool connections hold no SET, LISTEN, cursor or lock)."""


async def open_pool(settings: Settings) -> asyncpg.Pool:
    async def create() -> asyncpg.Pool:
        pool = asyncpg.create_pool(
            settings.database_url.get_secret_value(),
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            timeout=CONNECT_TIMEOUT_SECONDS,
            command_timeout=COMMAND_TIMEOUT_SECONDS,
            max_inactive_connection_lifetime=300.0,
            server_settings={"application_name": "users-api"},
            # asyncpg still rolls back an open transaction on release; this replaces only its reset query
            # (UNLISTEN, RESET ALL, advisory unlock...), one more round trip per request for session state
            # the pool's statements never create.
            reset=keep_session,
        )
        try:
            return await pool
        except BaseException:
            pool.terminate()
            raise

    return await retry_while_unavailable(
        create, what="connect", limit_seconds=settings.db_startup_timeout_seconds
    )


async def close_pool(pool: asyncpg.Pool, limit_seconds: float = 10.0) -> None:
    """Close gracefully, but never let a wedged connection hold up the pod's shutdown."""
    try:
        await asyncio.wait_for(pool.close(), limit_seconds)
    except TimeoutError:
        log.warning("pool did not close in time; terminating connections")
        pool.terminate()

"""The users table, in SQL with `$1` parameters. The only module that talks to Postgres at request time.

Connection-level failures (refused, reset, server shutting down, timeouts) become DatabaseUnavailableError, so
the API answers 503 and never leaks a driver message. Each statement is counted by operation in the metrics.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from users_api.errors import DatabaseUnavailableError
from users_api.metrics import Metrics
from users_api.models import User

# What "the database is unreachable" looks like from asyncpg. Constraint and syntax errors are not in here:
# those are bugs or client errors and must not be disguised as an outage.
DATABASE_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now, crash shutdown
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections
)

ACQUIRE_TIMEOUT_SECONDS = 5.0

# Columns in the `User` model's order: bodies.py reads rows by position (a test holds the order).
LIST_PAGE = "SELECT id, email, name, created_at, updated_at FROM users WHERE id > $1 ORDER BY id LIMIT $2"
GET_ONE = "SELECT id, email, name, created_at, updated_at FROM users WHERE id = $1"
INSERT = "INSERT INTO users (email, name) VALUES ($1, $2) RETURNING id, email, name, created_at, updated_at"
# COALESCE keeps a column when the PATCH body left it out (None); the models never let a client send null.
UPDATE = """
UPDATE users SET email = COALESCE($2, email), name = COALESCE($3, name), updated_at = now()
WHERE id = $1
RETURNING id, email, name, created_at, updated_at
"""
DELETE = "DELETE FROM users WHERE id = $1 RETURNING id"


class DuplicateEmailError(Exception):
    """Another user already has this email (compared case-insensitively)."""


class UsersRepository:
    def __init__(self, pool: asyncpg.Pool, metrics: Metrics) -> None:
        self._pool = pool
        self._metrics = metrics

    @asynccontextmanager
    async def _connection(self, operation: str) -> AsyncIterator[asyncpg.pool.PoolConnectionProxy]:
        self._metrics.db_queries.labels(operation).inc()
        try:
            async with self._pool.acquire(timeout=ACQUIRE_TIMEOUT_SECONDS) as connection:
                yield connection
        except DATABASE_UNAVAILABLE as exc:
            self._metrics.db_unavailable.labels(operation).inc()
            raise DatabaseUnavailableError(operation) from exc

    async def ping(self, limit_seconds: float) -> None:
        """Round-trip a trivial query, connecting first if needed, all within `limit_seconds`."""
        try:
            async with asyncio.timeout(limit_seconds), self._connection("ping") as connection:
                await connection.fetchval("SELECT 1")
        except TimeoutError as exc:
            self._metrics.db_unavailable.labels("ping").inc()
            raise DatabaseUnavailableError("ping") from exc

    async def list_page(self, *, after_id: int, limit: int) -> tuple[list[asyncpg.Record], int | None]:
        """Up to `limit` users with id > after_id, in id order, and the id to continue after (None: last).

        Rows, not models: read routes encode them directly (`bodies.py`).
        """
        async with self._connection("list_users") as connection:
            # One row more than asked tells whether another page exists, without a COUNT.
            rows = await connection.fetch(LIST_PAGE, after_id, limit + 1)
        next_after: int | None = rows[limit - 1]["id"] if len(rows) > limit else None
        return rows[:limit], next_after

    async def get(self, user_id: int) -> asyncpg.Record | None:
        async with self._connection("get_user") as connection:
            return await connection.fetchrow(GET_ONE, user_id)

    async def create(self, *, email: str, name: str) -> User:
        async with self._connection("create_user") as connection:
            try:
                row = await connection.fetchrow(INSERT, email, name)
            except asyncpg.UniqueViolationError:
                raise DuplicateEmailError(email) from None
        assert row is not None
        return User.model_validate(dict(row))

    async def update(self, user_id: int, *, email: str | None, name: str | None) -> User | None:
        async with self._connection("update_user") as connection:
            try:
                row = await connection.fetchrow(UPDATE, user_id, email, name)
            except asyncpg.UniqueViolationError:
                raise DuplicateEmailError(email) from None
        return None if row is None else User.model_validate(dict(row))

    async def delete(self, user_id: int) -> bool:
        async with self._connection("delete_user") as connection:
            deleted = await connection.fetchval(DELETE, user_id)
        return deleted is not None

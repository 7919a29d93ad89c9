"""The `users-api` command as the container runs it: settings validation, migrations, logs."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from localservices import PostgresServer, UsersApiServer, users_api_executable
from users_api.migrate import Migration, MigrationError, apply_migrations

pytestmark = pytest.mark.services


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {
        key: value for key, value in os.environ.items() if not key.startswith(("PG", "DATABASE_", "REDIS_"))
    }
    return subprocess.run(
        [users_api_executable(), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
async def fresh_database(postgres: PostgresServer) -> AsyncIterator[str]:
    """The DSN of a new, empty database on the shared server, dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(postgres.dsn)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield postgres.dsn.rsplit("/", 1)[0] + f"/{name}"
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def test_migrate_applies_once_then_nothing(fresh_database: str) -> None:
    first = run_cli("migrate", env={"DATABASE_URL": fresh_database})
    assert first.returncode == 0, first.stderr + first.stdout
    assert "applied 1 migration(s): 0001_create_users" in first.stdout

    second = run_cli("migrate", env={"DATABASE_URL": fresh_database})
    assert second.returncode == 0
    assert "applied 0 migration(s): none pending" in second.stdout


async def test_concurrent_migrations_take_turns_under_the_advisory_lock(fresh_database: str) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: run_cli("migrate", env={"DATABASE_URL": fresh_database}), range(4)))

    assert [r.returncode for r in results] == [0, 0, 0, 0], [r.stdout + r.stderr for r in results]
    assert sum("0001_create_users" in r.stdout for r in results) == 1
    connection = await asyncpg.connect(fresh_database)
    try:
        assert await connection.fetchval("SELECT count(*) FROM schema_migrations") == 1
    finally:
        await connection.close()


async def test_a_migration_edited_after_it_was_applied_is_refused(fresh_database: str) -> None:
    connection = await asyncpg.connect(fresh_database)
    try:
        original = Migration("0001_t", "CREATE TABLE t (id int)")
        assert await apply_migrations(connection, [original]) == ["0001_t"]
        assert await apply_migrations(connection, [original]) == []
        with pytest.raises(MigrationError, match="0001_t"):
            await apply_migrations(connection, [Migration("0001_t", "CREATE TABLE t (id bigint)")])
        # A failing migration leaves nothing behind and the lock is released for the next attempt.
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await apply_migrations(connection, [original, Migration("0002_bad", "CREATE TABLE (")])
        assert await connection.fetchval("SELECT count(*) FROM schema_migrations") == 1
        assert await connection.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0
    finally:
        await connection.close()


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"DATABASE_URL": "postgresql://u:p@h/db", "PORT": "eighty"}, "PORT"),
        ({"DATABASE_URL": "postgresql://u:p@h/db", "CACHE_TTL_SECONDS": "0"}, "CACHE_TTL_SECONDS"),
        ({"DATABASE_URL": "postgresql://u:p@h/db", "CACHE_ENABLED": "maybe"}, "CACHE_ENABLED"),
        ({"DATABASE_URL": "mysql://u:hunter2@h/db"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgresql://u:p@h/db", "REDIS_URL": "http://:hunter2@r"}, "REDIS_URL"),
        ({}, "DATABASE_URL"),
        ({"PGHOST": "db", "PGUSER": "u", "PGPORT": "x"}, "PGPORT"),
    ],
)
@pytest.mark.parametrize("command", ["serve", "migrate"])
def test_bad_settings_fail_with_one_line_naming_the_variable(
    env: dict[str, str], variable: str, command: str
) -> None:
    result = run_cli(command, env=env)

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert variable in lines[0]
    assert "Traceback" not in result.stderr
    assert "hunter2" not in result.stderr


async def test_libpq_variables_configure_the_database(postgres: PostgresServer, clean_state: None) -> None:
    parts = urlsplit(postgres.dsn)
    env = {
        "PGHOST": str(parts.hostname),
        "PGPORT": str(parts.port),
        "PGUSER": str(parts.username),
        "PGPASSWORD": str(parts.password),
        "PGDATABASE": parts.path.lstrip("/"),
    }
    with UsersApiServer(env=env) as api:
        async with httpx.AsyncClient(base_url=api.url) as client:
            assert (await client.get("/readyz")).status_code == 200
            assert (await client.get("/api/users")).headers["x-cache"] == "BYPASS"


async def test_logs_are_json_with_request_ids_and_no_secrets(
    postgres: PostgresServer, clean_state: None
) -> None:
    with UsersApiServer(env={"DATABASE_URL": postgres.dsn}) as api:
        async with httpx.AsyncClient(base_url=api.url) as client:
            await client.get("/api/users", headers={"x-request-id": "trace-me-1"})
            await client.post("/api/users", content=b"{", headers={"content-type": "application/json"})
        api.stop()
        lines = api.log_path.read_text().splitlines()

    records = [json.loads(line) for line in lines]  # every line is JSON, uvicorn's included
    access = [r for r in records if r["logger"] == "users_api.access"]
    assert any(r["request_id"] == "trace-me-1" and r["route"] == "/api/users" for r in access)
    assert any(r["status"] == 400 for r in access)
    assert all({"time", "level", "message"} <= set(r) for r in records)
    assert postgres.password not in "\n".join(lines)


async def test_serve_migrates_only_when_asked(fresh_database: str) -> None:
    """The operator's Job migrates before a new image serves; `serve` alone leaves the schema alone."""

    async def schema() -> object:
        connection = await asyncpg.connect(fresh_database)
        try:
            return await connection.fetchval("SELECT to_regclass('users')")
        finally:
            await connection.close()

    with UsersApiServer(env={"DATABASE_URL": fresh_database}, migrate_at_start=False) as api:
        async with httpx.AsyncClient(base_url=api.url) as client:
            assert (await client.get("/readyz")).status_code == 200
        assert await schema() is None
    with UsersApiServer(env={"DATABASE_URL": fresh_database, "RUN_MIGRATIONS": "true"}) as api:
        assert await schema() == "users"


def test_migrate_says_when_the_database_never_answered() -> None:
    """Exit 3, not 1: the Job retries an unreachable database, but fails at once on a failed migration."""
    result = run_cli(
        "migrate", env={"DATABASE_URL": "postgresql://u:p@127.0.0.1:9/db", "DB_STARTUP_TIMEOUT_SECONDS": "0"}
    )
    assert result.returncode == 3, result.stdout + result.stderr
    assert "database unreachable" in result.stdout + result.stderr

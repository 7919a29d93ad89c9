"""Schema migrations: plain SQL files applied in name order, each once, under a Postgres advisory lock.

Several replicas start at once during a rollout; the session-level advisory lock makes them take turns, and
the second one finds nothing left to do. Each file runs in its own transaction together with its bookkeeping
row, so a failed migration leaves no trace and is retried on the next start. A checksum catches a file that
was edited after it was applied, which would otherwise silently diverge between environments.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

# Any constant unique to this application; pg_advisory_lock takes a bigint.
ADVISORY_LOCK_KEY = int.from_bytes(hashlib.sha256(b"users_api.migrations").digest()[:8], "big", signed=True)


class MigrationError(RuntimeError):
    """A migration cannot be applied safely (failed, or its file changed after it was applied)."""


@dataclass(frozen=True)
class Migration:
    version: str  # the file name without .sql, e.g. 0001_create_users
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def bundled_migrations() -> list[Migration]:
    """The .sql files shipped inside the package, in the order they must run."""
    directory = resources.files("users_api").joinpath("migrations")
    files = sorted(
        (entry for entry in directory.iterdir() if entry.name.endswith(".sql")), key=lambda e: e.name
    )
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")) for entry in files]


async def apply_migrations(
    connection: asyncpg.Connection, migrations: list[Migration] | None = None
) -> list[str]:
    """Apply what is missing; return the versions applied by this call."""
    pending = bundled_migrations() if migrations is None else migrations
    await connection.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
    try:
        await connection.execute(
            """
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version    text PRIMARY KEY,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        rows = await connection.fetch("SELECT version, checksum FROM schema_migrations")
        applied = {row["version"]: row["checksum"] for row in rows}
        done: list[str] = []
        for migration in pending:
            if migration.version in applied:
                if applied[migration.version] != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version} was edited after being applied; add a new one instead"
                    )
                continue
            log.info("applying migration", extra={"version": migration.version})
            async with connection.transaction():
                await connection.execute(migration.sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, checksum) VALUES ($1, $2)",
                    migration.version,
                    migration.checksum,
                )
            done.append(migration.version)
        return done
    finally:
        await connection.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)

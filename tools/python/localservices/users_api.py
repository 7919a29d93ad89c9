"""`users-api serve` as a subprocess, exactly as the container's ENTRYPOINT runs it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Self

from localservices.server import LOOPBACK, HttpServer, console_script

# Variables of the users API that must come only from the caller, never leak in from our own environment.
_API_VARIABLES = (
    "DATABASE_URL",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "REDIS_URL",
    "REDIS_PASSWORD",
    "CACHE_TTL_SECONDS",
    "CACHE_ENABLED",
    "RUN_MIGRATIONS",
    "HOST",
    "PORT",
)


def users_api_executable() -> str:
    return console_script("users-api")


class UsersApiServer(HttpServer):
    """The server on a database it may have to create the schema of.

    In a cluster the operator's Job runs `users-api migrate` before any server starts; here one process
    stands for both, so it migrates at start (RUN_MIGRATIONS=true) unless `migrate_at_start=False` or the
    caller's env says otherwise.
    """

    name = "users-api"
    ready_timeout = 60.0
    grace = 20.0

    def __init__(
        self, *, env: Mapping[str, str], port: int | None = None, migrate_at_start: bool = True
    ) -> None:
        super().__init__(port=port)
        self.env = dict(env)
        self.migrate_at_start = migrate_at_start

    def start(self) -> Self:
        env = {key: value for key, value in os.environ.items() if key not in _API_VARIABLES}
        env.update({"HOST": LOOPBACK, "PORT": str(self.port), "LOG_LEVEL": "info"})
        if self.migrate_at_start:
            env["RUN_MIGRATIONS"] = "true"
        env.update(self.env)
        self._spawn([users_api_executable(), "serve"], env=env)
        return self

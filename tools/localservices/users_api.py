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
    "CACHE_TTL_SECONDS",
    "CACHE_ENABLED",
    "RUN_MIGRATIONS",
    "HOST",
    "PORT",
)


def users_api_executable() -> str:
    return console_script("users-api")


class UsersApiServer(HttpServer):
    name = "users-api"
    ready_timeout = 60.0
    grace = 20.0

    def __init__(self, *, env: Mapping[str, str], port: int | None = None) -> None:
        super().__init__(port=port)
        self.env = dict(env)

    def start(self) -> Self:
        env = {key: value for key, value in os.environ.items() if key not in _API_VARIABLES}
        env.update({"HOST": LOOPBACK, "PORT": str(self.port), "LOG_LEVEL": "info"})
        env.update(self.env)
        self._spawn([users_api_executable(), "serve"], env=env)
        return self

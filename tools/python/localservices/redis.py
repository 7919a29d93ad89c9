"""A throwaway redis-server without persistence (the cache is disposable by design), configured as the
operator renders it: the same command line (builders/redis.py), a generated password read from a config file
(`requirepass`, never on the command line), protected mode on. It listens on loopback only."""

from __future__ import annotations

import os
import secrets
import socket
from typing import Self

from kubelocal import leaks
from localservices.server import LOOPBACK, LocalServer
from webstack_operator.builders.redis import redis_auth_config, redis_server_args

REDIS_SERVER = os.environ.get("WEBSTACK_REDIS_SERVER", "/usr/bin/redis-server")


class RedisServer(LocalServer):
    name = "redis"

    def __init__(
        self, *, port: int | None = None, password: str | None = None, max_memory: str = "256mb"
    ) -> None:
        super().__init__(port=port)
        self.password = password or secrets.token_urlsafe(24)
        self.max_memory = max_memory
        self.config_path = self.dir / "auth.conf"
        leaks.note_secret(self.password)

    @property
    def url(self) -> str:
        """What REDIS_URL holds in a pod: no credentials (they come as REDIS_PASSWORD)."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    def argv(self) -> list[str]:
        """The rendered command line, with this server's config file and port, bound to loopback."""
        rendered = redis_server_args(self.max_memory, config_path=str(self.config_path), port=self.port)
        return [
            REDIS_SERVER,
            *rendered[1:],
            "--bind",
            LOOPBACK,
            "--dir",
            str(self.dir),
            "--loglevel",
            "warning",
        ]

    def ready(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                sock.sendall(b"AUTH " + self.password.encode() + b"\r\nPING\r\n")
                reply = b""
                while reply.count(b"\r\n") < 2:
                    chunk = sock.recv(64)
                    if not chunk:
                        return False
                    reply += chunk
                return reply == b"+OK\r\n+PONG\r\n"
        except OSError:
            return False

    def start(self) -> Self:
        fd = os.open(self.config_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as config:
            config.write(redis_auth_config(self.password))
        self._spawn(self.argv())
        return self

"""A throwaway redis-server without persistence (the cache is disposable by design)."""

from __future__ import annotations

import os
import socket
from typing import Self

from localservices.server import LOOPBACK, LocalServer

REDIS_SERVER = os.environ.get("WEBSTACK_REDIS_SERVER", "/usr/bin/redis-server")


class RedisServer(LocalServer):
    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def ready(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> Self:
        self._spawn(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                LOOPBACK,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ]
        )
        return self

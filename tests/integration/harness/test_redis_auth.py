"""Redis as the harness runs it is Redis as the operator renders it: a password (requirepass, from a config
file, never on the command line), protected mode on. Unauthenticated clients are refused; the users API
authenticates with REDIS_PASSWORD, and without it the cache is bypassed rather than failing requests."""

from __future__ import annotations

import socket
from pathlib import Path

import httpx
import pytest
import redis
from tests.support.users_api import api_env

from localservices import PostgresServer, RedisServer, UsersApiServer

pytestmark = pytest.mark.services


def _raw(server: RedisServer, command: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(command)
        return sock.recv(256)


def test_an_unauthenticated_client_is_refused_and_an_authenticated_one_works(
    redis_server: RedisServer,
) -> None:
    assert _raw(redis_server, b"PING\r\n").startswith(b"-NOAUTH")
    assert _raw(redis_server, b"GET users:version\r\n").startswith(b"-NOAUTH")
    assert _raw(redis_server, b"AUTH not-the-password\r\n").startswith(b"-WRONGPASS")

    anonymous = redis.Redis.from_url(redis_server.url, protocol=2)
    try:
        with pytest.raises(redis.exceptions.AuthenticationError, match=r"NOAUTH|Authentication required"):
            anonymous.ping()
    finally:
        anonymous.close()

    client = redis.Redis.from_url(redis_server.url, password=redis_server.password, decode_responses=True)
    try:
        assert client.ping() is True
        assert client.config_get("protected-mode") == {"protected-mode": "yes"}
        assert client.config_get("requirepass") == {"requirepass": redis_server.password}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
    finally:
        client.close()


def test_the_password_is_not_on_the_command_line(redis_server: RedisServer) -> None:
    executed = redis_server.argv()  # Redis rewrites its process title, so check what was executed too
    assert str(redis_server.config_path) in executed
    assert not [arg for arg in executed if "requirepass" in arg or redis_server.password in arg]
    assert redis_server.pid is not None
    shown = Path(f"/proc/{redis_server.pid}/cmdline").read_bytes()
    assert b"requirepass" not in shown and redis_server.password.encode() not in shown


async def test_the_users_api_without_the_password_bypasses_the_cache(
    postgres: PostgresServer, redis_server: RedisServer, clean_state: None
) -> None:
    env = api_env(postgres, redis_server, REDIS_PASSWORD="", CACHE_TIMEOUT_SECONDS="0.5")
    with UsersApiServer(env=env) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            for _ in range(2):
                response = await client.get("/api/users")
                assert response.status_code == 200, response.text
                assert response.headers["x-cache"] == "BYPASS"
        assert redis_server.password not in server.log_path.read_text()


async def test_the_users_api_with_the_password_uses_the_cache(
    postgres: PostgresServer, redis_server: RedisServer, clean_state: None
) -> None:
    with UsersApiServer(env=api_env(postgres, redis_server)) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            seen = [(await client.get("/api/users")).headers["x-cache"] for _ in range(2)]
            log = server.log_path.read_text()
    assert seen == ["MISS", "HIT"]
    assert redis_server.password not in log

"""Both Redis clients of the users API authenticate with REDIS_PASSWORD (no connection is opened here)."""

from __future__ import annotations

from users_api.app import open_redis
from users_api.invalidation import InvalidationListener
from users_api.nearcache import NearCache
from users_api.settings import load_settings

PASSWORD = "r3dis-Pw-0123456789abcdef"
ENV = {"DATABASE_URL": "postgresql://u@h/d", "REDIS_URL": "redis://cache:6379/0", "REDIS_PASSWORD": PASSWORD}


async def test_the_cache_client_sends_the_password() -> None:
    client = open_redis(load_settings(ENV))
    assert client is not None
    try:
        assert client.connection_pool.connection_kwargs["password"] == PASSWORD
    finally:
        await client.aclose()


async def test_without_a_password_the_cache_client_sends_none() -> None:
    client = open_redis(load_settings({**ENV, "REDIS_PASSWORD": ""}))
    assert client is not None
    try:
        assert client.connection_pool.connection_kwargs.get("password") is None
    finally:
        await client.aclose()


async def test_the_invalidation_connection_sends_the_password() -> None:
    settings = load_settings(ENV)
    assert settings.redis_url is not None
    listener = InvalidationListener(
        settings.redis_url.get_secret_value(),
        NearCache(max_entries=10, max_bytes=4096),
        prefix="v:",
        timeout_seconds=1,
        password=settings.redis_password_value(),
    )
    try:
        connection = listener._pool.make_connection()  # type: ignore[no-untyped-call]
        assert connection.password == PASSWORD
    finally:
        await listener.close()

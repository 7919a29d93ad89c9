"""The application: a declarative routes list, and a lifespan that owns the Postgres pool and Redis client."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from users_api import endpoints, probes
from users_api.cache import VERSION_KEY, Cache
from users_api.circuit import CircuitBreaker
from users_api.database import close_pool, migrate, open_pool
from users_api.errors import EXCEPTION_HANDLERS
from users_api.invalidation import InvalidationListener
from users_api.metrics import Metrics
from users_api.middleware import RequestContextMiddleware
from users_api.nearcache import NearCache
from users_api.openapi import openapi_endpoint
from users_api.settings import Settings
from users_api.state import AppState
from users_api.users import UsersRepository

log = logging.getLogger(__name__)


def build_routes() -> list[Route]:
    return [
        endpoints.route(endpoints.USERS_ROUTE, GET=endpoints.list_users, POST=endpoints.create_user),
        endpoints.route(
            endpoints.USER_ROUTE,
            GET=endpoints.get_user,
            PATCH=endpoints.update_user,
            DELETE=endpoints.delete_user,
        ),
        Route("/healthz", probes.healthz, methods=["GET"]),
        Route("/readyz", probes.readyz, methods=["GET"]),
        Route("/metrics", probes.metrics, methods=["GET"]),
        Route("/openapi.json", openapi_endpoint(), methods=["GET"]),
    ]


def open_redis(settings: Settings) -> Redis | None:
    """A client that fails fast: the circuit breaker, not redis-py's retries, decides when to try again."""
    if not settings.cache_active or settings.redis_url is None:
        return None
    return Redis.from_url(
        settings.redis_url.get_secret_value(),
        password=settings.redis_password_value(),
        socket_timeout=settings.cache_timeout_seconds,
        socket_connect_timeout=settings.cache_timeout_seconds,
        retry=Retry(NoBackoff(), 0),
        health_check_interval=0,
    )


def open_near_cache(settings: Settings, metrics: Metrics) -> NearCache | None:
    if not settings.near_cache_active:
        return None
    near = NearCache(max_entries=settings.near_cache_max_entries, max_bytes=settings.near_cache_max_bytes)
    metrics.watch_near_cache(lambda: len(near), lambda: near.size_bytes, lambda: float(near.active))
    return near


# Objects allocated (net of those freed) before the collector walks the young generation; Python's default
# is 700. An uncached page keeps about 150 containers alive while it waits for Postgres, so 32 requests in
# flight crossed the default several times a millisecond: 5 % of the CPU in the profile, for garbage that
# reference counting frees anyway. At 10,000 a pass is rarer and still short (it walks what is alive, a few
# thousand objects). Measured: +4-7 % requests/s on the uncached list (docs/architecture.md).
YOUNG_COLLECTION_THRESHOLD = 10_000


def freeze_startup_objects() -> None:
    """Move everything alive after startup (modules, routes, pools) out of the garbage collector's sight.

    Those objects live as long as the process; without this, each full collection walks all of them while
    requests wait, which showed as the tail of the latency distribution (docs/architecture.md). Then the
    young generation is collected less often (YOUNG_COLLECTION_THRESHOLD).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


def describe_database(settings: Settings) -> str:
    """Host, port and database only: what an operator needs in a log line, without the credentials."""
    parts = urlsplit(settings.database_url.get_secret_value())
    return f"{parts.hostname}:{parts.port or 5432}{parts.path}"


def create_app(settings: Settings) -> Starlette:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[dict[str, AppState]]:
        log.info(
            "starting",
            extra={
                "database": describe_database(settings),
                "cache": "enabled" if settings.cache_active else "disabled",
                "near_cache": "enabled" if settings.near_cache_active else "disabled",
            },
        )
        if settings.run_migrations:
            await migrate(settings)
        pool = await open_pool(settings)
        redis = open_redis(settings)
        listener: InvalidationListener | None = None
        listening: asyncio.Task[None] | None = None
        try:
            metrics.watch_pool(pool.get_size, pool.get_idle_size)
            breaker = CircuitBreaker(
                failure_threshold=settings.cache_breaker_failures,
                reset_seconds=settings.cache_breaker_reset_seconds,
            )
            near = open_near_cache(settings, metrics)
            cache = Cache(
                redis,
                ttl_seconds=settings.cache_ttl_seconds,
                breaker=breaker,
                metrics=metrics,
                near=near,
                routes=(endpoints.USERS_ROUTE, endpoints.USER_ROUTE),
            )
            if near is not None:
                assert settings.redis_url is not None
                listener = InvalidationListener(
                    settings.redis_url.get_secret_value(),
                    near,
                    password=settings.redis_password_value(),
                    prefix=VERSION_KEY,
                    timeout_seconds=settings.cache_timeout_seconds,
                    on_invalidation=lambda reason: metrics.child(
                        metrics.near_cache_invalidations, reason
                    ).inc(),
                )
                listening = asyncio.create_task(listener.run(), name="near-cache-invalidations")
            state = AppState(
                settings=settings, metrics=metrics, users=UsersRepository(pool, metrics), cache=cache
            )
            freeze_startup_objects()
            log.info("ready", extra={"port": settings.port})
            yield {"app_state": state}
        finally:
            if listening is not None:
                listening.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listening
            if listener is not None:
                await listener.close()
            if redis is not None:
                await redis.aclose()
            await close_pool(pool)
            log.info("stopped")

    return Starlette(
        routes=build_routes(),
        middleware=[
            Middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=settings.max_body_bytes)
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )

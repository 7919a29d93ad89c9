"""The connection that tells the near cache when to forget: Redis's own client-side-caching invalidations.

One dedicated connection, RESP2, does `CLIENT TRACKING on REDIRECT <its own id> BCAST PREFIX users:version`
and then `SUBSCRIBE __redis__:invalidate`. In broadcast mode Redis reports a change of any key with that
prefix to the subscriber whether or not anyone read it, so the request connections need no tracking at all:
every write's `INCR users:version` (ours or another replica's, or one typed by hand after a restore) and any
`FLUSHDB` arrive here as a message, and each message empties the near cache. Entries live under other keys
(`users:<version>:...`), so filling the cache causes no invalidation traffic.

The near cache is used only while this connection is known to be up: it is activated (empty) once the
subscription is confirmed, and deactivated (emptied) the moment the connection fails, a PING goes unanswered,
or the task stops. Meanwhile reads take the Redis path exactly as without a near cache; the connection is
re-established with capped exponential backoff.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.asyncio import Connection, ConnectionPool
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from users_api.nearcache import NearCache

log = logging.getLogger(__name__)

INVALIDATION_CHANNEL = "__redis__:invalidate"
# What `CLIENT LIST` shows for this connection (the tests find it by this name to kill it).
CONNECTION_NAME = "users-api-invalidations"
# Silence longer than this gets a PING; a PING unanswered within the cache timeout means the link is gone,
# e.g. a Redis frozen or partitioned away without closing the socket.
HEALTH_CHECK_SECONDS = 1.0
RECONNECT_FIRST_DELAY_SECONDS = 0.05
RECONNECT_MAX_DELAY_SECONDS = 2.0

LISTENER_FAILURES = (RedisError, OSError, asyncio.TimeoutError)


class InvalidationListener:
    def __init__(
        self,
        redis_url: str,
        near: NearCache,
        *,
        prefix: str,
        timeout_seconds: float,
        password: str | None = None,
        on_invalidation: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self._pool = ConnectionPool.from_url(
            redis_url,
            password=password,  # AUTH first, on every connection (a password in the URL wins)
            protocol=2,  # RESP2: invalidations arrive as Pub/Sub messages on the redirect connection
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 0),
            health_check_interval=0,
        )
        self._near = near
        self._prefix = prefix
        self._timeout = timeout_seconds
        self._on_invalidation = on_invalidation

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after every failure; the near cache follows the connection."""
        delay = RECONNECT_FIRST_DELAY_SECONDS
        while True:
            connection: Connection = self._pool.make_connection()  # type: ignore[no-untyped-call]
            try:
                await self._subscribe(connection)
                self._near.activate()
                log.info("near cache active: listening for invalidations")
                delay = RECONNECT_FIRST_DELAY_SECONDS
                await self._listen(connection)
            except LISTENER_FAILURES as exc:
                log.debug("invalidation connection failed", extra={"error": type(exc).__name__})
            finally:
                if self._near.active:
                    self._near.deactivate()
                    self._on_invalidation("connection_lost")
                    log.warning("near cache off until the invalidation connection is back")
                await connection.disconnect(nowait=True)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY_SECONDS)

    async def close(self) -> None:
        await self._pool.aclose()

    async def _command(self, connection: Connection, *args: Any) -> Any:
        await connection.send_command(*args)
        reply = await connection.read_response(timeout=self._timeout)
        if reply is None:
            raise TimeoutError(f"no answer to {args[0]} within {self._timeout} s")
        return reply

    async def _subscribe(self, connection: Connection) -> None:
        await connection.connect()  # type: ignore[no-untyped-call]
        client_id = await self._command(connection, "CLIENT", "ID")
        await self._command(connection, "CLIENT", "SETNAME", CONNECTION_NAME)
        await self._command(
            connection, "CLIENT", "TRACKING", "on", "REDIRECT", client_id, "BCAST", "PREFIX", self._prefix
        )
        await self._command(connection, "SUBSCRIBE", INVALIDATION_CHANNEL)

    async def _listen(self, connection: Connection) -> None:
        """Return never; raise when the connection fails or stops answering."""
        awaiting_pong = False
        while True:
            wait = self._timeout if awaiting_pong else HEALTH_CHECK_SECONDS
            message = await connection.read_response(timeout=wait)
            if message is None:
                if awaiting_pong:
                    raise TimeoutError(f"no answer to PING within {self._timeout} s")
                await connection.send_command("PING")
                awaiting_pong = True
                continue
            kind = message[0] if isinstance(message, list) and message else None
            if kind == b"pong":
                awaiting_pong = False
            elif kind == b"message":
                # [message, channel, [keys]] for a change, [message, channel, nil] for FLUSHDB/FLUSHALL.
                self._near.clear()
                self._on_invalidation("message")

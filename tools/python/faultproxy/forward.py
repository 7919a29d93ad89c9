"""The proxy's request handler, on its event loop: take the fault for the request, then answer, break the
connection, or forward to the upstream and stream the answer back chunk by chunk."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import time
from typing import NoReturn

import aiohttp
from aiohttp import web
from yarl import URL

from faultproxy.faults import CutWatch, Fault, Faults, Reset, Respond, Stall, Unreachable, WatchError
from faultproxy.log import RequestLog, RequestRecord, identity
from faultproxy.wire import WatchCut, end_to_end, error_event, status_body

# No total or read timeout: watches are quiet for minutes and live for up to an hour.
UPSTREAM_TIMEOUT = aiohttp.ClientTimeout(total=None, connect=10, sock_connect=10)


def upstream_session(ssl_context: ssl.SSLContext) -> aiohttp.ClientSession:
    """A session that adds nothing of its own: no Accept-Encoding (the client's own passes through, and
    bodies pass through undecoded), no cookies, and no cap on connections (every watch holds one)."""
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=ssl_context, limit=0),
        timeout=UPSTREAM_TIMEOUT,
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
        skip_auto_headers=("Accept", "Accept-Encoding", "User-Agent", "Content-Type"),
    )


def abort_with_reset(transport: asyncio.BaseTransport) -> None:
    """Closes at once with a TCP RST (SO_LINGER 0), as a crashed or firewalled server does."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    if isinstance(transport, asyncio.Transport):
        transport.abort()
    else:
        transport.close()


async def _until_cancelled() -> NoReturn:
    """After the connection is closed, the server cancels the handler (handler_cancellation=True)."""
    await asyncio.get_running_loop().create_future()
    raise AssertionError("unreachable")


class Forwarder:
    """Lives on the proxy's loop; the thread-facing FaultProxy reaches it through call_soon_threadsafe."""

    def __init__(
        self, faults: Faults, log: RequestLog, upstream: str, session: aiohttp.ClientSession
    ) -> None:
        self.faults = faults
        self.log = log
        self.upstream = upstream.rstrip("/")
        self.session = session
        self._open: set[asyncio.BaseTransport] = set()
        self._holds: dict[int, set[asyncio.Event]] = {}

    # ------------------------------------------------------------ called from the thread face
    def open_transports(self) -> list[asyncio.BaseTransport]:
        """The connections with a request in progress (a watch, a stall)."""
        return list(self._open)

    def abort_open(self) -> None:
        for transport in self.open_transports():
            abort_with_reset(transport)

    def release(self, fault_ids: list[int] | None = None) -> None:
        """Ends the stalls of these faults (all when None)."""
        for fault_id in list(self._holds) if fault_ids is None else fault_ids:
            for event in self._holds.pop(fault_id, set()):
                event.set()

    # ------------------------------------------------------------------------ handler
    async def __call__(self, request: web.BaseRequest) -> web.StreamResponse:
        index = self.log.add(
            RequestRecord(
                at=time.time(),
                method=request.method,
                path=request.path,
                query=request.query_string,
                user_agent=request.headers.get("User-Agent", ""),
                identity=identity(request.headers.get("Authorization")),
            )
        )
        transport = request.transport
        if transport is not None:
            self._open.add(transport)
        try:
            fault = self.faults.take(request.method, request.path, request.query_string)
            if fault is not None:
                self.log.update(index, fault=fault.kind)
            return await self._answer(request, index, fault)
        finally:
            self.log.update(index, done=True)
            if transport is not None:
                self._open.discard(transport)

    async def _answer(self, request: web.BaseRequest, index: int, fault: Fault | None) -> web.StreamResponse:
        match None if fault is None else fault.action:
            case Respond(code=code, message=message, retry_after=retry_after):
                self.log.update(index, status=code)
                headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
                return web.json_response(
                    status_body(code, message, retry_after), status=code, headers=headers
                )
            case WatchError(code=code, message=message):
                self.log.update(index, status=200)
                response = web.StreamResponse(headers={"Content-Type": "application/json"})
                response.enable_chunked_encoding()
                await response.prepare(request)
                await response.write(error_event(code, message))
                await response.write_eof()
                return response
            case Reset() | Unreachable():
                return await self._drop(request, reset=True)
            case Stall(seconds=seconds):
                assert fault is not None
                await self._hold(fault, seconds)
                return await self._forward(request, index, None)
            case CutWatch(after_events=after_events):
                return await self._forward(request, index, WatchCut(after_events))
            case _:
                return await self._forward(request, index, None)

    async def _drop(self, request: web.BaseRequest, *, reset: bool) -> NoReturn:
        """Ends the connection without (more of) a response: reset discards what is unsent, close sends
        it first."""
        if request.transport is not None:
            if reset:
                abort_with_reset(request.transport)
            else:
                request.transport.close()
        await _until_cancelled()

    async def _hold(self, fault: Fault, seconds: float | None) -> None:
        """Until `seconds` pass, the fault expires, or it is removed (then `release` sets the event)."""
        limits = [s for s in (seconds, fault.seconds_left(self.faults.clock())) if s is not None]
        event = asyncio.Event()
        self._holds.setdefault(fault.id, set()).add(event)
        try:
            if fault not in self.faults.faults():  # removed before the event was registered
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), min(limits) if limits else None)
        finally:
            self._holds.get(fault.id, set()).discard(event)

    async def _forward(
        self, request: web.BaseRequest, index: int, cut: WatchCut | None
    ) -> web.StreamResponse:
        url = URL(self.upstream + request.raw_path, encoded=True)
        headers = end_to_end(request.headers.items(), drop=("Host",))
        body = request.content.iter_any() if request.body_exists else None
        try:
            upstream = await self.session.request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            )
        except (aiohttp.ClientError, OSError, TimeoutError) as e:
            # What the client would have seen talking to the upstream directly: a broken connection.
            self.log.update(index, error=f"upstream: {e!r}")
            await self._drop(request, reset=True)
        async with upstream:
            try:
                return await self._stream(request, index, upstream, cut)
            except BaseException:
                # Left mid-body (cut, client gone, proxy stopping): abort rather than the TLS goodbye a
                # release would start, which could outlive the loop.
                if upstream.connection is not None and upstream.connection.transport is not None:
                    upstream.connection.transport.abort()
                raise

    async def _stream(
        self, request: web.BaseRequest, index: int, upstream: aiohttp.ClientResponse, cut: WatchCut | None
    ) -> web.StreamResponse:
        response = web.StreamResponse(
            status=upstream.status, reason=upstream.reason, headers=end_to_end(upstream.headers.items())
        )
        self.log.update(index, status=upstream.status)
        await response.prepare(request)
        try:
            async for received in upstream.content.iter_any():
                chunk, close = cut.feed(received) if cut else (received, False)
                if chunk:
                    await response.write(chunk)
                if close:
                    await self._drop(request, reset=False)
        except aiohttp.ClientPayloadError as e:
            self.log.update(index, error=f"upstream: {e!r}")
            await self._drop(request, reset=True)
        await response.write_eof()
        return response

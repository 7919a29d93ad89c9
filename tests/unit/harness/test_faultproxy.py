"""faultproxy: pass-through (streaming included), each fault kind, counts and expiry, clear(), and a request
log without tokens, against a small TLS upstream on loopback; no Kubernetes needed."""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from faultproxy import FaultProxy, Faults, Reset, Stall, Unreachable, identity_of
from faultproxy.faults import Match
from faultproxy.tls import ServingFiles, issue
from faultproxy.wire import WatchCut
from kubelocal.process import free_port
from kubelocal.wait import eventually, eventually_async

TOKEN = "s3cr3t-token-0123456789abcdef"
CM = "/api/v1/namespaces/default/configmaps/cm"
CMS = "/api/v1/namespaces/default/configmaps"
EVENTS = [
    {"type": "ADDED", "object": {"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "1"}}},
    {"type": "MODIFIED", "object": {"kind": "ConfigMap", "metadata": {"name": "a", "resourceVersion": "2"}}},
]


def line(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode() + b"\n"


class Upstream:
    """A TLS server standing in for kube-apiserver, on its own thread. Its watch sends one event, then
    waits for `gate` before the second, so a test can see the first arrive while the stream is open."""

    def __init__(self, files: ServingFiles) -> None:
        self.files = files
        self.port = free_port()
        self.seen: list[CIMultiDict[str]] = []
        self.gate = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    async def _configmap(self, request: web.Request) -> web.Response:
        self.seen.append(CIMultiDict(request.headers))
        headers = CIMultiDict([("X-Upstream", "yes"), ("Warning", '299 - "one"'), ("Warning", '299 - "two"')])
        return web.json_response({"kind": "ConfigMap", "data": {"k": "v"}}, headers=headers)

    async def _echo(self, request: web.Request) -> web.Response:
        self.seen.append(CIMultiDict(request.headers))
        return web.Response(body=await request.read(), content_type=request.content_type)

    async def _configmaps(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(CIMultiDict(request.headers))
        if request.query.get("watch") not in ("1", "true"):
            return web.json_response({"kind": "ConfigMapList", "items": []})
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await response.write(line(EVENTS[0]))
        await asyncio.to_thread(self.gate.wait, 30)
        await response.write(line(EVENTS[1]))
        await response.write_eof()
        return response

    @staticmethod
    async def _cleanup(runner: web.AppRunner) -> None:
        # Abort rather than a TLS goodbye, which would outlive the loop and leave its socket unclosed.
        assert runner.server is not None
        for connection in runner.server.connections:
            if connection.transport is not None:
                connection.transport.abort()
        await runner.cleanup()

    def start(self) -> Upstream:
        app = web.Application()
        app.router.add_get(CM, self._configmap)
        app.router.add_get(CMS, self._configmaps)
        app.router.add_post("/echo", self._echo)
        self._thread.start()
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.files.cert, self.files.key)

        async def serve() -> None:
            self._runner = web.AppRunner(app, shutdown_timeout=1)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=ctx).start()

        asyncio.run_coroutine_threadsafe(serve(), self._loop).result(10)
        return self

    def stop(self) -> None:
        self.gate.set()
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._cleanup(self._runner), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Upstream]:
    server = Upstream(issue(tmp_path_factory.mktemp("upstream-pki"))).start()
    yield server
    server.stop()


@pytest.fixture
def proxy(upstream: Upstream, tmp_path: Path) -> Iterator[FaultProxy]:
    upstream.gate.clear()
    upstream.seen.clear()
    with FaultProxy(upstream.url, upstream.files.ca, pki_dir=tmp_path / "proxy-pki") as started:
        yield started


def session_for(proxy: FaultProxy) -> aiohttp.ClientSession:
    """A client of the proxy. Closing it aborts its connections at once; a connection closed on its own
    says a TLS goodbye that can outlive the test's loop (and leave its socket unclosed)."""
    return aiohttp.ClientSession(
        base_url=proxy.url,
        connector=aiohttp.TCPConnector(ssl=ssl.create_default_context(cafile=str(proxy.ca_path))),
        headers={"Authorization": f"Bearer {TOKEN}", "User-Agent": "unit-test/1.0"},
        timeout=aiohttp.ClientTimeout(total=20),
    )


@pytest.fixture
async def client(proxy: FaultProxy) -> AsyncIterator[aiohttp.ClientSession]:
    async with session_for(proxy) as session:
        yield session


async def status_of(client: aiohttp.ClientSession, method: str, path: str, **kwargs: Any) -> int:
    """The status, the body read to its end, so the connection goes back to the pool (see session_for)."""
    async with client.request(method, path, **kwargs) as response:
        await response.read()
        return response.status


async def next_line(response: aiohttp.ClientResponse) -> bytes:
    return await asyncio.wait_for(response.content.readline(), 10)


# ------------------------------------------------------------------------------------------ pass-through
async def test_status_headers_body_and_authorization_pass_through(
    client: aiohttp.ClientSession, upstream: Upstream
) -> None:
    async with client.get(CM, headers={"X-Custom": "kept"}) as response:
        assert response.status == 200
        assert response.headers["X-Upstream"] == "yes"
        assert response.headers.getall("Warning") == ['299 - "one"', '299 - "two"']
        assert await response.json() == {"kind": "ConfigMap", "data": {"k": "v"}}
        sent = response.request_info.headers
    seen = upstream.seen[-1]
    assert seen["Authorization"] == f"Bearer {TOKEN}"
    assert seen["X-Custom"] == "kept"
    # Exactly the client's headers, nothing added (an Accept-Encoding of the proxy's would be a lie).
    assert sorted((k, v) for k, v in seen.items() if k != "Host") == sorted(
        (k, v) for k, v in sent.items() if k != "Host"
    )


async def test_a_request_body_passes_through(client: aiohttp.ClientSession) -> None:
    patch = b'{"data": {"k": "v2"}}'
    headers = {"Content-Type": "application/merge-patch+json"}
    async with client.post("/echo", data=patch, headers=headers) as response:
        assert response.status == 200
        assert response.content_type == "application/merge-patch+json"
        assert await response.read() == patch


async def test_a_watch_streams_event_by_event(client: aiohttp.ClientSession, upstream: Upstream) -> None:
    async with client.get(CMS, params={"watch": "true"}) as response:
        assert response.status == 200
        # The upstream holds the second event until the gate opens: the first arrived on its own.
        assert json.loads(await next_line(response)) == EVENTS[0]
        assert not upstream.gate.is_set()
        upstream.gate.set()
        assert json.loads(await next_line(response)) == EVENTS[1]
        assert await next_line(response) == b""  # the stream ended cleanly


async def test_a_client_leaving_a_watch_ends_the_request(proxy: FaultProxy) -> None:
    async with session_for(proxy) as leaving:
        response = await leaving.get(CMS, params={"watch": "true"})
        assert json.loads(await next_line(response)) == EVENTS[0]
    response.close()  # its connection was aborted with the session: nothing left to do
    # The client went away while the upstream was still quiet: the proxy's request ends too.
    (watch,) = eventually(
        lambda: proxy.requests(path_re=CMS), until=lambda seen: seen[0].done, what="the watch ended"
    )
    assert watch.status == 200


def test_sync_face_and_kubeconfig(upstream: Upstream, tmp_path: Path) -> None:
    with FaultProxy(upstream.url, upstream.files.ca) as proxy:
        config = json.loads(proxy.kubeconfig(TOKEN, tmp_path / "kubeconfig").read_text())
        assert config["clusters"][0]["cluster"] == {
            "server": proxy.url,
            "certificate-authority": str(proxy.ca_path),
        }
        assert config["users"][0]["user"] == {"token": TOKEN}
        ctx = ssl.create_default_context(cafile=config["clusters"][0]["cluster"]["certificate-authority"])
        request = urllib.request.Request(proxy.url + CM, headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request, context=ctx, timeout=10) as response:
            assert json.loads(response.read())["kind"] == "ConfigMap"
        pki_dir = proxy.ca_path.parent
    assert not pki_dir.exists()  # its own temp dir is removed on stop


# ---------------------------------------------------------------------------------------------- faults
@pytest.mark.parametrize(
    ("code", "reason"), [(500, "InternalError"), (503, "ServiceUnavailable"), (429, "TooManyRequests")]
)
async def test_error_status_with_a_status_body_for_n_requests(
    client: aiohttp.ClientSession, proxy: FaultProxy, code: int, reason: str
) -> None:
    retry_after = 7 if code == 429 else None
    fault = proxy.fail(code, method="GET", path=CM, times=2, retry_after=retry_after)
    for _ in range(2):
        async with client.get(CM) as response:
            assert response.status == code
            body = await response.json()
            assert (body["kind"], body["code"], body["reason"]) == ("Status", code, reason)
            assert response.headers.get("Retry-After") == (None if retry_after is None else "7")
    assert await status_of(client, "GET", CM) == 200
    assert fault.hits == 2
    assert await status_of(client, "POST", "/echo", data=b"x") == 200  # another path: untouched


async def test_reset_closes_the_connection_without_a_response(
    client: aiohttp.ClientSession, proxy: FaultProxy
) -> None:
    # A POST: aiohttp (like many clients) quietly retries an idempotent request once on a reset.
    proxy.reset(path="/echo", times=1)
    with pytest.raises(aiohttp.ClientError):
        async with client.post("/echo", data=b"x") as response:
            await response.read()
    assert await status_of(client, "POST", "/echo", data=b"x") == 200
    assert [(r.status, r.fault) for r in proxy.requests(path_re="/echo")] == [(None, "reset"), (200, None)]


async def test_a_stall_holds_the_response_until_cleared(
    client: aiohttp.ClientSession, proxy: FaultProxy
) -> None:
    proxy.stall(path=CM)

    stalled = asyncio.create_task(status_of(client, "GET", CM))
    await eventually_async(
        lambda: asyncio.sleep(0, proxy.requests(path_re=CM, fault="stall")),
        until=lambda seen: len(seen) == 1,
        what="the request held by the proxy",
    )
    assert not stalled.done() and not proxy.requests(path_re=CM)[0].done
    proxy.clear()
    assert await asyncio.wait_for(stalled, 10) == 200


async def test_a_stall_for_seconds_then_forwards(client: aiohttp.ClientSession, proxy: FaultProxy) -> None:
    proxy.stall(0.3, path=CM, times=1)
    started = time.monotonic()
    assert await status_of(client, "GET", CM) == 200
    assert time.monotonic() - started >= 0.3


async def raw_get(proxy: FaultProxy, target: str) -> bytes:
    """The bytes of a response as sent, until the proxy closes the connection (aiohttp's client drops
    what it buffered once the connection fails)."""
    ctx = ssl.create_default_context(cafile=str(proxy.ca_path))
    reader, writer = await asyncio.open_connection("127.0.0.1", proxy.port, ssl=ctx)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        return await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


async def test_a_watch_cut_mid_event(
    client: aiohttp.ClientSession, proxy: FaultProxy, upstream: Upstream
) -> None:
    proxy.cut_watch(after_events=1, path=CMS, times=2)
    upstream.gate.set()
    raw = await raw_get(proxy, CMS + "?watch=1")
    first, second = line(EVENTS[0]), line(EVENTS[1])
    half = second[: (len(second) - 1) // 2]
    assert raw.startswith(b"HTTP/1.1 200 OK\r\n") and first in raw
    assert raw.endswith(half + b"\r\n")  # the last chunk: half a line, and no terminating 0-chunk

    async with client.get(CMS, params={"watch": "1"}) as response:
        assert json.loads(await next_line(response)) == EVENTS[0]
        with pytest.raises(aiohttp.ClientPayloadError):
            await next_line(response)
    assert [r.status for r in proxy.requests(fault="cut-watch")] == [200, 200]


async def test_a_watch_answered_410_gone(client: aiohttp.ClientSession, proxy: FaultProxy) -> None:
    proxy.watch_gone(path=CMS)
    assert await status_of(client, "GET", CMS) == 200  # not a watch: untouched
    async with client.get(CMS, params={"watch": "true"}) as response:
        assert response.status == 410
        assert (await response.json())["reason"] == "Expired"


async def test_a_watch_answered_with_an_error_event(client: aiohttp.ClientSession, proxy: FaultProxy) -> None:
    proxy.watch_expired(path=CMS)
    async with client.get(CMS, params={"watch": "true", "resourceVersion": "1"}) as response:
        assert response.status == 200
        event = json.loads(await next_line(response))
        assert event["type"] == "ERROR"
        assert (event["object"]["kind"], event["object"]["code"]) == ("Status", 410)
        assert await next_line(response) == b""


async def test_failed_discovery_of_one_group(client: aiohttp.ClientSession, proxy: FaultProxy) -> None:
    proxy.fail_discovery("metrics.k8s.io", "v1beta1")
    assert await status_of(client, "GET", "/apis/metrics.k8s.io/v1beta1") == 503
    # Past discovery, the upstream's own answer.
    assert await status_of(client, "GET", "/apis/metrics.k8s.io/v1beta1/pods") == 404


async def test_unreachable_cuts_open_watches_and_resets_until_it_expires(
    client: aiohttp.ClientSession, proxy: FaultProxy
) -> None:
    async with client.get(CMS, params={"watch": "true"}) as watch:
        assert json.loads(await next_line(watch)) == EVENTS[0]
        proxy.unreachable(for_seconds=0.5)
        with pytest.raises(aiohttp.ClientError):
            await next_line(watch)
    with pytest.raises(aiohttp.ClientError):
        async with client.get(CM) as response:
            await response.read()

    assert (
        await eventually_async(
            lambda: status_of(client, "GET", CM), until=lambda s: s == 200, what="the API back"
        )
        == 200
    )
    assert {r.fault for r in proxy.requests(path_re=CM)} >= {"unreachable", None}


async def test_clear_removes_every_fault(client: aiohttp.ClientSession, proxy: FaultProxy) -> None:
    proxy.fail(500, path=CM)
    proxy.reset(path="/echo")
    proxy.clear()
    assert proxy.faults() == []
    assert await status_of(client, "GET", CM) == 200
    assert await status_of(client, "POST", "/echo", data=b"x") == 200


async def test_an_unreachable_upstream_looks_unreachable(tmp_path: Path, upstream: Upstream) -> None:
    with FaultProxy(f"https://127.0.0.1:{free_port()}", upstream.files.ca) as proxy:
        ctx = ssl.create_default_context(cafile=str(proxy.ca_path))
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=ctx)) as session:
            with pytest.raises(aiohttp.ClientError):
                async with session.post(proxy.url + "/echo", data=b"x") as response:
                    await response.read()
        (record,) = eventually(lambda: proxy.requests(), until=lambda r: bool(r and r[0].done))
        assert record.status is None and record.error and "upstream" in record.error


# ----------------------------------------------------------------------------------------- request log
async def test_the_request_log_tells_who_did_what_without_tokens(
    client: aiohttp.ClientSession, proxy: FaultProxy
) -> None:
    proxy.fail(503, method="PATCH", path=CM, times=1)
    assert await status_of(client, "PATCH", CM, params={"fieldManager": "webstack"}, data=b"{}") == 503
    assert await status_of(client, "GET", CM, headers={"Authorization": "Bearer another-token"}) == 200

    records = eventually(proxy.requests, until=lambda r: len(r) == 2 and all(x.done for x in r))
    (patch,) = proxy.requests(method="PATCH", path_re=r"/api/v1/.*/configmaps/")
    assert (patch.query, patch.status, patch.fault) == ("fieldManager=webstack", 503, "status-503")
    assert patch.identity == identity_of(TOKEN) and patch.user_agent == "unit-test/1.0"
    assert proxy.requests(identity=identity_of("another-token"))[0].method == "GET"
    assert proxy.requests(fault="*") == [patch]
    assert proxy.requests(query_re="fieldManager=") == [patch]
    assert all(TOKEN not in repr(r) and "another-token" not in repr(r) for r in records)
    assert time.time() - 60 < patch.at <= time.time()


# ----------------------------------------------------------------------------- matching, counts, expiry
def test_faults_match_method_path_prefix_and_query() -> None:
    match = Match(method="get", path="/api/v1/namespaces/a/", query=r"(^|&)watch=true")
    assert match.matches("GET", "/api/v1/namespaces/a/pods", "watch=true&rv=1")
    assert not match.matches("GET", "/api/v1/namespaces/a/pods", "rv=1")
    assert not match.matches("POST", "/api/v1/namespaces/a/pods", "watch=true")
    assert not match.matches("GET", "/x/api/v1/namespaces/a/pods", "watch=true")  # anchored at the start
    with pytest.raises(Exception, match="unterminated"):
        Match(path="/api/(")


def test_faults_count_expire_and_prefer_unreachable() -> None:
    now = [100.0]
    faults = Faults(clock=lambda: now[0])
    twice = faults.inject(Reset(), path="/a", times=2)
    briefly = faults.inject(Stall(), path="/b", for_seconds=5)
    assert [faults.take("GET", "/a", "") for _ in range(3)] == [twice, twice, None]
    assert faults.take("GET", "/b", "") is briefly
    now[0] = 105.0
    assert faults.take("GET", "/b", "") is None
    assert twice in faults.faults()  # spent, still listed with its hits
    assert (twice.hits, briefly.hits) == (2, 1)

    faults.inject(Reset(), path="/c")
    down = faults.inject(Unreachable(), for_seconds=60)
    assert faults.take("GET", "/c", "") is down
    faults.remove(down)
    assert faults.take("GET", "/c", "").action == Reset()  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="times must be at least 1"):
        faults.inject(Reset(), times=0)


def test_a_watch_cut_passes_whole_lines_then_half_of_the_next() -> None:
    cut = WatchCut(after_events=1)
    assert cut.feed(b'{"a":1}\n{"b"') == (b'{"a":1}\n', False)  # the next line is held until complete
    assert cut.feed(b':2222}\n{"c":3}\n') == (b'{"b":', True)
    assert WatchCut(0).feed(b"0123456789\n") == (b"01234", True)

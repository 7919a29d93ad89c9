"""FaultProxy: a TLS endpoint on loopback in front of kube-apiserver, on a thread with its own event loop,
so synchronous tests (`with FaultProxy(...) as proxy:`) and async ones alike can script faults."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from faultproxy import tls
from faultproxy.faults import Fault, Faults, Unreachable
from faultproxy.forward import Forwarder, abort_with_reset, upstream_session
from faultproxy.log import RequestLog, RequestRecord

START_TIMEOUT = 30.0


class FaultProxy(Faults):
    """Forwards every request to `upstream_url` (verified with `upstream_ca`; None: the system's roots)
    with all its headers, Authorization included, and streams every answer back unbuffered, except where
    a scripted fault (see `Faults`) says otherwise.

    Bearer tokens pass through; client certificates cannot, since TLS ends here: a test whose identity is a
    client certificate must talk to the apiserver directly.
    """

    def __init__(
        self,
        upstream_url: str,
        upstream_ca: Path | None,
        *,
        pki_dir: Path | None = None,
        port: int = 0,
        on_request: Callable[[RequestRecord], None] | None = None,
    ) -> None:
        super().__init__()
        self.upstream_url = upstream_url
        self.upstream_ca = upstream_ca
        self.port = port
        self.log = RequestLog(on_request)
        self._owns_pki_dir = pki_dir is None
        self._pki_dir = pki_dir or Path(tempfile.mkdtemp(prefix="faultproxy-"))
        self._files: tls.ServingFiles | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._forwarder: Forwarder | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    # ---------------------------------------------------------------------- where
    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> Path:
        """The CA a client must trust to talk to the proxy."""
        assert self._files is not None, "proxy not started"
        return self._files.ca

    def kubeconfig(self, token: str, path: Path, *, namespace: str = "default") -> Path:
        """An ordinary kubeconfig: server = the proxy, CA = the proxy's CA, this bearer token."""
        cluster = {"server": self.url, "certificate-authority": str(self.ca_path)}
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "faultproxy", "cluster": cluster}],
            "users": [{"name": "faultproxy", "user": {"token": token}}],
            "contexts": [
                {
                    "name": "faultproxy",
                    "context": {"cluster": "faultproxy", "user": "faultproxy", "namespace": namespace},
                }
            ],
            "current-context": "faultproxy",
        }
        path.write_text(json.dumps(config, indent=2))
        path.chmod(0o600)
        return path

    def requests(
        self,
        *,
        method: str | None = None,
        path_re: str | None = None,
        query_re: str | None = None,
        identity: str | None = None,
        user_agent_re: str | None = None,
        fault: str | None = None,
    ) -> list[RequestRecord]:
        """The request log, filtered (see RequestLog.query)."""
        return self.log.query(
            method=method,
            path_re=path_re,
            query_re=query_re,
            identity=identity,
            user_agent_re=user_agent_re,
            fault=fault,
        )

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> FaultProxy:
        if self._thread is not None:
            raise RuntimeError("proxy already started")
        self._files = tls.issue(self._pki_dir)
        self._thread = threading.Thread(target=self._run, name=f"faultproxy-{self.port}", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT) or self._error is not None:
            self.stop()
            raise RuntimeError(f"fault proxy did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        """Cuts every open connection (streams and stalls too), stops the loop and joins the thread."""
        loop, stopping, thread = self._loop, self._stopping, self._thread
        if loop is not None and stopping is not None:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if thread is not None:
            thread.join(START_TIMEOUT)
        self._thread = None
        if self._owns_pki_dir:
            shutil.rmtree(self._pki_dir, ignore_errors=True)

    # ------------------------------------------------------------- Faults hooks
    def _injected(self, fault: Fault) -> None:
        if isinstance(fault.action, Unreachable):
            self._on_loop(lambda f: f.abort_open())

    def _removed(self, faults: list[Fault]) -> None:
        ids = [f.id for f in faults]
        self._on_loop(lambda f: f.release(ids))

    def _on_loop(self, call: Callable[[Forwarder], None]) -> None:
        loop, forwarder = self._loop, self._forwarder
        if loop is not None and forwarder is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nothing left to act on
                loop.call_soon_threadsafe(call, forwarder)

    # ---------------------------------------------------------------- the loop
    def _run(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as e:  # reported to start(), which is waiting for _ready
            self._error = e
            self._ready.set()

    async def _serve(self) -> None:
        assert self._files is not None
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        async with upstream_session(tls.upstream_context(self.upstream_ca)) as session:
            forwarder = Forwarder(self, self.log, self.upstream_url, session)
            server = web.Server(forwarder, handler_cancellation=True)
            runner = web.ServerRunner(server, handle_signals=False, shutdown_timeout=1)
            await runner.setup()
            try:
                await web.SockSite(runner, sock, ssl_context=tls.server_context(self._files)).start()
                self._forwarder = forwarder
                self._ready.set()
                await self._stopping.wait()
            finally:
                self._forwarder = None
                forwarder.release()
                # Every connection, idle ones too, ends at once: a TLS goodbye would need the loop that is
                # about to close, and the proxy going away is a crash, not a polite shutdown.
                for transport in {*forwarder.open_transports(), *(c.transport for c in server.connections)}:
                    if transport is not None:
                        abort_with_reset(transport)
                await runner.cleanup()

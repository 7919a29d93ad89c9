"""A small async Kubernetes API client: requests, errors, watch streams, discovery.

kopf's own client watches the operator's custom resources; this one does what kopf's does not: server-side
apply, label-selected lists and watches (what the caller's caches of the objects it makes read), deletes with
propagation, discovery. Its credentials come from the same `login` as kopf's (connection.py), so both
authenticate alike; they are renewed shortly before they expire and once more when the apiserver answers 401.
A 429/503 with Retry-After holds every request of the client until then (throttle.py); lists are read in
pages. Its writes carry the caller's field manager and its requests the caller's user agent: the identity
is the operator's, handed in, never this layer's.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf

from webstack_operator.kube import discovery
from webstack_operator.kube.connection import SERVICE_ACCOUNT_TOKEN, Connection, login, tls_material
from webstack_operator.kube.jsondata import JSON
from webstack_operator.kube.throttle import RETRY_AFTER_STATUSES, RetryAfterGate, retry_after_seconds
from webstack_operator.telemetry import metrics

__all__ = ["SERVICE_ACCOUNT_TOKEN", "ApiError", "KubeClient", "Resource", "retry_after_seconds"]

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Longer than any watch reads (timeoutSeconds up to 300, plus the read timeout's 30 s of slack).
RETIRED_SESSION_SECONDS = 600.0
# Requests in flight at once. Watches are not counted: each holds a connection for minutes, and a namespaced
# operator runs one per kind and namespace (dozens), which must never leave a list or a write waiting for a
# connection until it times out. The default; the caller may pass its own (`request_slots`).
REQUEST_SLOTS = 32
LIST_PAGE = 500  # items per list request (client-go's pager default)
LIST_ATTEMPTS = 3  # a list whose continue token expired is started over at most this often in all


class ApiError(Exception):
    """A non-2xx answer; `reason` and `message` are the apiserver's own Status fields.

    `status` 0 means no answer at all (connection refused or dropped, timeout). `retry_after`: the seconds
    a 429 or 503 asked to wait (its Retry-After header), None when it did not say.
    """

    def __init__(
        self,
        status: int,
        reason: str,
        message: str,
        method: str = "",
        path: str = "",
        *,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{method} {path}: {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        return self.status in TRANSIENT_STATUSES or self.status == 0


def _api_error(resp: aiohttp.ClientResponse, text: str, method: str, path: str) -> ApiError:
    """From the Status object the apiserver answers with; a proxy's HTML page is kept as the message."""
    reason, message = resp.reason or "", text[:500]
    try:
        status = json.loads(text)
    except ValueError:
        status = None
    if isinstance(status, dict):
        reason, message = status.get("reason", reason), status.get("message", message)
    retry_after = None
    if resp.status in RETRY_AFTER_STATUSES:
        retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
    return ApiError(resp.status, reason, message, method, path, retry_after=retry_after)


async def _refusal(resp: aiohttp.ClientResponse, method: str, path: str) -> ApiError:
    async with resp:
        return _api_error(resp, await resp.text(), method, path)


@dataclass(frozen=True)
class Resource:
    """One API resource type as discovery reports it."""

    group: str
    version: str
    kind: str
    plural: str
    namespaced: bool

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def path(self, namespace: str | None = None, name: str | None = None) -> str:
        base = f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"
        if self.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{self.plural}"
        return f"{base}/{name}" if name else base


class KubeClient:
    """One aiohttp session for the operator's lifetime (a new one only when the TLS material changes);
    credentials from a `Connection`, renewed before they expire and once when the apiserver refuses them."""

    def __init__(
        self,
        info: kopf.ConnectionInfo,
        *,
        field_manager: str,
        user_agent: str | None = None,
        token_path: str | None = None,
        timeout: float = 30.0,
        login: Callable[[], kopf.ConnectionInfo] | None = None,
        request_slots: int | None = None,
    ) -> None:
        """`field_manager`: the name the caller's writes carry (`fieldManager`), by which it tells the
        fields it owns from others'; `user_agent`: the name its requests carry, in the API server's audit log
        (None: the field manager). Both are the caller's identity: this layer has none of its own.
        `token_path`: a bearer token file to re-read when it changes (in a pod, by default, the
        ServiceAccount's). `login`: how to get new credentials when these expire or are refused (without
        it, the credentials in `info` are used as they are). `request_slots`: requests in flight at once
        (None: REQUEST_SLOTS)."""
        self.connection = Connection(info, token_path=token_path, login=login)
        self._session: aiohttp.ClientSession | None = None
        self._session_tls: tuple[object, ...] = ()
        self._retired: list[tuple[float, aiohttp.ClientSession]] = []
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._request_slots = asyncio.Semaphore(REQUEST_SLOTS if request_slots is None else request_slots)
        # A 429/503 with Retry-After holds every request of this client, not only the refused one.
        self.gate = RetryAfterGate()
        self._resources: dict[tuple[str, str], Resource] = {}
        self.field_manager = field_manager
        # Which process sent a request, in the API server's audit log.
        self.user_agent = field_manager if user_agent is None else user_agent
        # Leader election sets this: a replica that is not certain it holds the Lease sends no write.
        self.may_write: Callable[[], bool] = lambda: True

    @classmethod
    def connect(
        cls,
        *,
        field_manager: str,
        user_agent: str | None = None,
        token_path: str | None = None,
        timeout: float = 30.0,
        request_slots: int | None = None,
    ) -> KubeClient:
        """Logs in as kopf does (the same `login`): in a pod, the ServiceAccount; else, the kubeconfig."""
        return cls(
            login(),
            field_manager=field_manager,
            user_agent=user_agent,
            token_path=token_path,
            login=login,
            timeout=timeout,
            request_slots=request_slots,
        )

    @property
    def server(self) -> str:
        return self.connection.server

    def _session_or_new(self) -> aiohttp.ClientSession:
        """The session for the current credentials. One whose TLS material was renewed away is retired,
        not closed: watches still reading from it end on their own; it closes RETIRED_SESSION_SECONDS on."""
        info, tls = self.connection.info, tls_material(self.connection.info)
        if self._session is not None and not self._session.closed:
            if tls == self._session_tls:
                return self._session
            self._retired.append((time.monotonic(), self._session))
        # No pool limit: requests are bounded by _request_slots, watches by their number (see REQUEST_SLOTS).
        connector = aiohttp.TCPConnector(ssl=self.connection.ssl_context(), limit=0)
        self._session = aiohttp.ClientSession(
            connector=connector, timeout=self._timeout, trust_env=info.trust_env, proxy=info.proxy_url
        )
        self._session_tls = tls
        return self._session

    async def _close_retired(self, *, older_than: float = RETIRED_SESSION_SECONDS) -> None:
        now = time.monotonic()
        for entry in [e for e in self._retired if now - e[0] >= older_than]:
            self._retired.remove(entry)
            await entry[1].close()

    async def _send(self, method: str, path: str, **kwargs: Any) -> aiohttp.ClientResponse:
        """The response to one request; on a 401 the connection logs in again and the request goes once
        more. The caller reads and releases the response (`async with`)."""
        connection = self.connection
        await connection.renew_if_expiring()
        await self._close_retired()
        generation = connection.generation
        resp = await self._send_once(method, path, **kwargs)
        if resp.status != 401:
            return resp
        refused = await _refusal(resp, method, path)
        try:
            renewed = await connection.renew(generation)
        except Exception as e:
            message = f"the credentials were refused and logging in again failed ({e}): {refused.message}"
            raise ApiError(401, refused.reason, message, method, path) from e
        if not renewed:
            raise refused
        resp = await self._send_once(method, path, **kwargs)
        if resp.status == 401:
            refused = await _refusal(resp, method, path)
            message = f"the credentials were refused again after renewal: {refused.message}"
            raise ApiError(401, refused.reason, message, method, path)
        return resp

    async def _send_once(
        self, method: str, path: str, *, headers: dict[str, str], **kwargs: Any
    ) -> aiohttp.ClientResponse:
        verb = "GET" if method == "WATCH" else method
        await self.gate.wait()  # a wait for Retry-After may outlast the Lease: the fence comes after it
        self._fence(method, path)
        headers = {**headers, **self.connection.auth_header()}
        resp = await self._session_or_new().request(verb, self.server + path, headers=headers, **kwargs)
        self.gate.note(resp.status, resp.headers.get("Retry-After"))
        return resp

    def _fence(self, method: str, path: str) -> None:
        """Checked when a write goes out (after its wait for a slot and for credentials), not only when it
        was asked for: a write that waited past the renew deadline of a lost Lease is not sent."""
        if method not in ("GET", "WATCH") and not self.may_write():
            raise ApiError(0, "NotLeader", "this replica does not hold the leader Lease", method, path)

    async def close(self) -> None:
        await self._close_retired(older_than=0)
        if self._session is not None:
            await self._session.close()

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: object = None,
        params: dict[str, str] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> JSON:
        headers = {"Accept": accept, "User-Agent": self.user_agent}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body, separators=(",", ":"))
        self._fence(method, path)  # no wait for a slot when the answer is known; again when it is sent
        metrics.API_REQUESTS.labels(method=method).inc()
        async with self._request_slots:
            try:
                async with await self._send(method, path, data=data, params=params, headers=headers) as resp:
                    text = await resp.text()
                    if resp.status >= 400:
                        raise _api_error(resp, text, method, path)
                    return json.loads(text) if text else {}
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                raise ApiError(0, "ConnectionError", str(e) or type(e).__name__, method, path) from e

    async def get_text(self, path: str, params: dict[str, str] | None = None) -> str:
        """A GET whose answer is not JSON: a pod's log, a pod's /metrics through the API server's proxy."""
        headers = {"Accept": "text/plain, */*", "User-Agent": self.user_agent}
        metrics.API_REQUESTS.labels(method="GET").inc()
        async with self._request_slots:
            try:
                async with await self._send("GET", path, params=params, headers=headers) as resp:
                    text = await resp.text(errors="replace")
                    if resp.status >= 400:
                        raise _api_error(resp, text, "GET", path)
                    return text
            except (TimeoutError, aiohttp.ClientError, OSError) as e:
                raise ApiError(0, "ConnectionError", str(e) or type(e).__name__, "GET", path) from e

    async def list_all(self, path: str, params: dict[str, str], *, page_size: int = LIST_PAGE) -> JSON:
        """A whole collection in pages of `page_size` (`limit`/`continue`), each page one request under the
        client's timeout: a big list no longer races a single 30 s deadline. A continue token that expired
        (410: the snapshot the pages come from was compacted away) starts the list over. The answer carries
        the first page's resourceVersion: the snapshot every page is from, where a watch resumes."""
        for attempt in range(1, LIST_ATTEMPTS + 1):
            items: list[JSON] = []
            first: JSON | None = None
            token = ""
            try:
                while first is None or token:
                    query = {**params, "limit": str(page_size), **({"continue": token} if token else {})}
                    page = await self.request("GET", path, params=query)
                    first = first or page
                    items.extend(page.get("items") or [])
                    token = str((page.get("metadata") or {}).get("continue") or "")
            except ApiError as e:
                if e.status != 410 or not token or attempt == LIST_ATTEMPTS:
                    raise
                continue
            version = (first.get("metadata") or {}).get("resourceVersion", "")
            return {**first, "metadata": {"resourceVersion": version}, "items": items}
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def stream(
        self, path: str, params: dict[str, str], *, on_open: Callable[[], object] | None = None
    ) -> AsyncGenerator[JSON, None]:
        """A watch: one JSON event per line until the server ends it (timeoutSeconds) or it breaks.
        `on_open` is called once the server has accepted the watch (a quiet watch may send nothing)."""
        metrics.API_REQUESTS.labels(method="WATCH").inc()
        headers = {"Accept": "application/json", "User-Agent": self.user_agent}
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=10, sock_read=int(params.get("timeoutSeconds", 300)) + 30
        )
        try:
            async with await self._send(
                "WATCH", path, params=params, headers=headers, timeout=timeout
            ) as resp:
                if resp.status >= 400:
                    raise _api_error(resp, await resp.text(), "WATCH", path)
                if on_open is not None:
                    on_open()
                # Lines are split here, not by aiohttp's readline: its line limit (twice its read buffer,
                # 128 or 512 KiB depending on the version) is below one event of a ConfigMap carrying the
                # UI or a dashboard, which may take up to 1 MiB.
                buffer = b""
                async for chunk in resp.content.iter_any():
                    buffer += chunk
                    *lines, buffer = buffer.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise ApiError(0, "ConnectionError", str(e) or type(e).__name__, "WATCH", path) from e

    # ------------------------------------------------------------- discovery
    async def discover(self) -> dict[tuple[str, str], Resource]:
        """Maps (apiVersion, kind) to a Resource for every served kind: what optional APIs exist. Aggregated
        discovery where the server offers it, else one request per group version (discovery.py)."""

        async def get(path: str, accept: str) -> JSON:
            return await self.request("GET", path, accept=accept)

        rows, failed = await discovery.fetch(get)
        found: dict[tuple[str, str], Resource] = {}
        for row in rows:
            res = Resource(*row)
            found[(res.api_version, res.kind)] = res
        # Unknown is not absent: a group version listed but failing its own fetch, or marked Stale (a blip,
        # an aggregated API whose backend is down), keeps what it served at the last look.
        for key, res in self._resources.items():
            if res.api_version in failed:
                found.setdefault(key, res)
        self._resources = found
        return found

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """From the last `discover`; None for a kind the cluster does not serve."""
        return self._resources.get((api_version, kind))

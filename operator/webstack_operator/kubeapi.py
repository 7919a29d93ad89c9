"""A small async Kubernetes API client: requests, errors, watch streams, discovery.

kopf's own client watches WebStacks; this one does what kopf's does not: server-side apply, label-selected
lists and watches of the children (see watch.py), deletes with propagation, discovery. Credentials come
from kopf's own login functions, so the operator authenticates exactly as kopf does (in-cluster
ServiceAccount, or a kubeconfig); a token file, when there is one, is re-read whenever it is rewritten,
because kubelet rotates projected ServiceAccount tokens.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import ssl
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import kopf

from webstack_operator import metrics

JSON = dict[str, Any]
TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"  # what kopf's ServiceAccount login reports
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


class ApiError(Exception):
    """A non-2xx answer; `reason` and `message` are the apiserver's own Status fields.

    `status` 0 means no answer at all (connection refused or dropped, timeout).
    """

    def __init__(self, status: int, reason: str, message: str, method: str = "", path: str = "") -> None:
        super().__init__(f"{method} {path}: {status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message

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
    return ApiError(resp.status, reason, message, method, path)


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
    """One aiohttp session for the operator's lifetime; the token is re-read when the file rotates."""

    def __init__(
        self, info: kopf.ConnectionInfo, *, token_path: str | None = None, timeout: float = 30.0
    ) -> None:
        """`token_path`: a bearer token file to re-read when it changes (in a pod, by default, the
        ServiceAccount's); without one, the token or credentials in `info` are used as they are."""
        self.server = info.server.rstrip("/")
        self._info = info
        if token_path is None and self.server == IN_CLUSTER_SERVER:
            token_path = SERVICE_ACCOUNT_TOKEN
        self._token_path = token_path
        self._token = info.token
        self._token_mtime = 0.0
        self._session: aiohttp.ClientSession | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._resources: dict[tuple[str, str], Resource] = {}
        # Leader election sets this: a replica that is not certain it holds the Lease sends no write.
        self.may_write: Callable[[], bool] = lambda: True

    @classmethod
    def connect(cls, *, token_path: str | None = None) -> KubeClient:
        """Logs in as kopf does: in a pod, the ServiceAccount; elsewhere, the kubeconfig."""
        settings = kopf.OperatorSettings()
        info = kopf.login_with_service_account(settings=settings) or kopf.login_with_kubeconfig(
            settings=settings
        )
        if info is None:
            raise RuntimeError("no Kubernetes credentials: not in a pod and no KUBECONFIG")
        return cls(info, token_path=token_path)

    def _ssl(self) -> ssl.SSLContext | bool:
        info = self._info
        if info.insecure:
            return False
        ctx = ssl.create_default_context()
        if info.ca_path:
            ctx.load_verify_locations(cafile=os.fsdecode(info.ca_path))
        elif info.ca_data:
            data = info.ca_data.decode() if isinstance(info.ca_data, bytes) else info.ca_data
            ctx.load_verify_locations(cadata=data)
        if info.certificate_path and info.private_key_path:
            ctx.load_cert_chain(os.fsdecode(info.certificate_path), os.fsdecode(info.private_key_path))
        return ctx

    def _session_or_new(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl(), limit=32)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
        return self._session

    def _auth_header(self) -> dict[str, str]:
        if self._token_path:
            try:
                mtime = os.stat(self._token_path).st_mtime
                if mtime != self._token_mtime:
                    with open(self._token_path, encoding="utf-8") as f:
                        self._token = f.read().strip()
                    self._token_mtime = mtime
            except OSError:
                pass
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        if self._info.username and self._info.password:
            credentials = f"{self._info.username}:{self._info.password}".encode()
            return {"Authorization": f"Basic {base64.b64encode(credentials).decode()}"}
        return {}

    async def close(self) -> None:
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
    ) -> JSON:
        headers = {"Accept": "application/json", **self._auth_header()}
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body, separators=(",", ":"))
        if method != "GET" and not self.may_write():
            raise ApiError(0, "NotLeader", "this replica does not hold the leader Lease", method, path)
        metrics.API_REQUESTS.labels(method=method).inc()
        try:
            async with self._session_or_new().request(
                method, self.server + path, data=data, params=params, headers=headers
            ) as resp:
                text = await resp.text()
                if resp.status >= 400:
                    raise _api_error(resp, text, method, path)
                return json.loads(text) if text else {}
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            raise ApiError(0, "ConnectionError", str(e) or type(e).__name__, method, path) from e

    async def stream(self, path: str, params: dict[str, str]) -> AsyncGenerator[JSON, None]:
        """A watch: one JSON event per line until the server ends it (timeoutSeconds) or it breaks."""
        metrics.API_REQUESTS.labels(method="WATCH").inc()
        headers = {"Accept": "application/json", **self._auth_header()}
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=10, sock_read=int(params.get("timeoutSeconds", 300)) + 30
        )
        try:
            async with self._session_or_new().get(
                self.server + path, params=params, headers=headers, timeout=timeout
            ) as resp:
                if resp.status >= 400:
                    raise _api_error(resp, await resp.text(), "WATCH", path)
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
        """Maps (apiVersion, kind) to a Resource for every served kind: what optional APIs exist."""
        found: dict[tuple[str, str], Resource] = {}
        core = await self.request("GET", "/api/v1")
        lists = [("", "v1", core)]
        groups = await self.request("GET", "/apis")
        versions = [
            (group["name"], v["version"]) for group in groups.get("groups", []) for v in group["versions"]
        ]
        # An aggregated API whose backend is down fails its own fetch; what it serves is simply absent.
        results = await asyncio.gather(
            *(self.request("GET", f"/apis/{g}/{v}") for g, v in versions), return_exceptions=True
        )
        for (g, v), result in zip(versions, results, strict=True):
            if isinstance(result, dict):
                lists.append((g, v, result))
        for group, version, resource_list in lists:
            for r in resource_list.get("resources", []):
                if "/" in r["name"]:
                    continue  # subresources: deployments/status, pods/log
                res = Resource(group, version, r["kind"], r["name"], bool(r.get("namespaced")))
                found[(res.api_version, res.kind)] = res
        self._resources = found
        return found

    def resource(self, api_version: str, kind: str) -> Resource | None:
        """From the last `discover`; None for a kind the cluster does not serve."""
        return self._resources.get((api_version, kind))

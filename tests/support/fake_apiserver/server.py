"""FakeApi: the fake apiserver's object store, its HTTP handlers, and what a test steers.

What it serves, and how a test drives it, is described in the package's docstring (__init__.py).
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from multidict import CIMultiDictProxy
from tests.support.fake_apiserver.discovery import (
    AGGREGATED_CONTENT_TYPE,
    aggregated_discovery,
    api_versions,
    group_list,
    resource_list,
)
from tests.support.fake_apiserver.wire import (
    BROKEN_GROUP_VERSION,
    JSON,
    KINDS,
    OBJECT_PATH,
    RESOURCES,
    Key,
    Selection,
    error,
    merge,
    selector,
    status,
)

# A ConfigMap's data may take 1 MiB; aiohttp's readline gives up at 512 KiB (128 KiB in older versions).
BIG = 900_000


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    content_type: str
    at: float = 0.0  # time.monotonic() of arrival

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Scripted:
    method: str
    path: str
    watch: bool
    status: int  # 0: drop the connection instead of answering
    body: str
    content_type: str
    times: int
    headers: dict[str, str] = field(default_factory=dict)


_DROP: JSON = {"type": "(drop the connection)"}


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.objects: dict[Key, JSON] = {}
        self.revision = 100
        self.compacted = 0  # a watch from a resourceVersion below this gets ERROR 410
        self.history: list[tuple[int, Key, JSON]] = []
        self.watches: list[Selection] = []
        self.chunk_size = 16 * 1024
        self.pages = 0  # list answers given
        self.compactions = 0  # continue tokens issued before the last `expire` answer 410
        self.after_page: Callable[[int], None] | None = None  # called with `pages` after each list answer
        self._scripted: list[_Scripted] = []
        # Aggregated discovery (apidiscovery.k8s.io/v2) on /api and /apis when asked for; group versions in
        # `stale` are served with freshness Stale, as for an aggregated API whose backend is down.
        self.aggregated = False
        self.stale = {BROKEN_GROUP_VERSION}
        self.app = web.Application(middlewares=[self._record_and_script])
        self.app.add_routes(
            [
                web.get("/api", self._api),
                web.get("/api/v1", self._core),
                web.get("/apis", self._groups),
                web.get("/apis/{group}/{version}", self._group_version),
                web.route("*", "/{path:.*}", self._objects),
            ]
        )
        self._server: TestServer | None = None

    async def __aenter__(self) -> FakeApi:
        # handler_cancellation: a watch the client hung up on stops counting as open
        self._server = TestServer(self.app, handler_cancellation=True)
        await self._server.start_server()
        return self

    async def __aexit__(self, *_: object) -> None:
        self.end_watches()
        assert self._server is not None
        await self._server.close()

    @property
    def url(self) -> str:
        assert self._server is not None
        return str(self._server.make_url("")).rstrip("/")

    # ------------------------------------------------------------------ what a test steers
    def answer(
        self,
        method: str,
        path: str,
        code: int,
        body: JSON | str = "",
        *,
        watch: bool = False,
        times: int = 1,
        content_type: str = "text/html",
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next `times` requests to `path` get this answer instead (a dict body is sent as JSON)."""
        if isinstance(body, dict):
            body, content_type = json.dumps(body), "application/json"
        self._scripted.append(_Scripted(method, path, watch, code, body, content_type, times, headers or {}))

    def unscript(self) -> None:
        """Forgets every scripted answer not yet given: the server behaves again."""
        self._scripted.clear()

    def drop(self, method: str, path: str, *, watch: bool = False, times: int = 1) -> None:
        """The next `times` requests to `path` have their connection closed without an answer."""
        self._scripted.append(_Scripted(method, path, watch, 0, "", "", times))

    def create(self, collection: str, obj: JSON) -> JSON:
        return self._write("ADDED", self._key(collection, obj), obj)

    def update(self, collection: str, obj: JSON) -> JSON:
        return self._write("MODIFIED", self._key(collection, obj), obj)

    def delete(self, collection: str, name: str) -> JSON:
        key = self._key(collection, {"metadata": {"name": name}})
        return self._write("DELETED", key, self.objects[key])

    def bookmark(self) -> None:
        """Tells every open watch the current resourceVersion."""
        for w in self.watches:
            meta = {"resourceVersion": str(self.revision)}
            obj = {"apiVersion": w.group_version, "kind": KINDS[w.group_version, w.plural], "metadata": meta}
            w.queue.put_nowait({"type": "BOOKMARK", "object": obj})

    def expire(self) -> None:
        """Compacts the history: open watches get ERROR 410 and end; older resourceVersions are gone."""
        self.compacted, self.history = self.revision, []
        self.compactions += 1
        for w in self.watches:
            w.queue.put_nowait({"type": "ERROR", "object": self._too_old()})
            w.queue.put_nowait(None)

    def end_watches(self) -> None:
        """Ends every open watch cleanly, as its timeoutSeconds would."""
        for w in self.watches:
            w.queue.put_nowait(None)

    def drop_watches(self) -> None:
        """Breaks every open watch's connection mid-stream."""
        for w in self.watches:
            w.queue.put_nowait(_DROP)

    def requests_to(self, path: str, *, watch: bool | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path == path and watch in (None, r.query.get("watch") in ("1", "true"))
        ]

    # ------------------------------------------------------------------ the store
    def _key(self, collection: str, obj: JSON) -> Key:
        match = OBJECT_PATH.fullmatch(collection)
        assert match, collection
        gv = match["core"] or match["gv"]
        return (
            gv,
            match["plural"],
            obj["metadata"].get("namespace") or match["namespace"] or "",
            obj["metadata"]["name"],
        )

    def _write(self, event_type: str, key: Key, obj: JSON) -> JSON:
        self.revision += 1
        obj = copy.deepcopy(obj)
        gv, plural, namespace, name = key
        obj.setdefault("apiVersion", gv)
        obj.setdefault("kind", KINDS[gv, plural])
        meta = obj.setdefault("metadata", {})
        meta.update(name=name, resourceVersion=str(self.revision))
        meta.setdefault("uid", f"uid-{self.revision}")
        if namespace:
            meta["namespace"] = namespace
        if event_type == "DELETED":
            del self.objects[key]
        else:
            self.objects[key] = obj
        event = {"type": event_type, "object": obj}
        self.history.append((self.revision, key, event))
        for w in self.watches:
            if w.sees(key, obj):
                w.queue.put_nowait(event)
        return obj

    def _too_old(self) -> JSON:
        return status(410, "Expired", f"too old resource version: history starts at {self.compacted}")

    # ------------------------------------------------------------------ HTTP
    @web.middleware
    async def _record_and_script(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        body = await request.read()
        query = dict(request.query)
        at = time.monotonic()
        self.requests.append(
            Recorded(request.method, request.path, query, request.headers, body, request.content_type, at)
        )
        watch = query.get("watch") in ("1", "true")
        for s in self._scripted:
            if (s.method, s.path, s.watch) == (request.method, request.path, watch):
                s.times -= 1
                if not s.times:
                    self._scripted.remove(s)
                if s.status == 0:
                    assert request.transport is not None
                    request.transport.abort()
                    return web.Response()  # never sent
                return web.Response(
                    status=s.status, text=s.body, content_type=s.content_type, headers=s.headers
                )
        return await handler(request)

    async def _core(self, _: web.Request) -> web.Response:
        return web.json_response(resource_list("v1"))

    def _asks_aggregated(self, request: web.Request) -> bool:
        return self.aggregated and "as=APIGroupDiscoveryList" in request.headers.get("Accept", "")

    def _aggregated(self, core: bool) -> web.Response:
        document = aggregated_discovery(core=core, stale=self.stale)
        return web.json_response(document, content_type=AGGREGATED_CONTENT_TYPE)

    async def _api(self, request: web.Request) -> web.Response:
        if self._asks_aggregated(request):
            return self._aggregated(core=True)
        return web.json_response(api_versions())

    async def _groups(self, request: web.Request) -> web.Response:
        if self._asks_aggregated(request):
            return self._aggregated(core=False)
        return web.json_response(group_list())

    async def _group_version(self, request: web.Request) -> web.Response:
        gv = f"{request.match_info['group']}/{request.match_info['version']}"
        if gv == BROKEN_GROUP_VERSION:
            return error(503, "ServiceUnavailable", "the server is currently unable to handle the request")
        if gv not in RESOURCES:
            return error(404, "NotFound", "the server could not find the requested resource")
        return web.json_response(resource_list(gv))

    async def _objects(self, request: web.Request) -> web.StreamResponse:
        match = OBJECT_PATH.fullmatch(request.path)
        gv = match and (match["core"] or match["gv"])
        if not match or not gv or (gv, match["plural"]) not in KINDS:
            return error(404, "NotFound", "the server could not find the requested resource")
        if match["name"] is None:
            return await self._collection(request, gv, match["plural"], match["namespace"])
        key = (gv, match["plural"], match["namespace"] or "", match["name"])
        return await self._object(request, key, status=bool(match["status"]))

    async def _collection(
        self, request: web.Request, gv: str, plural: str, namespace: str | None
    ) -> web.StreamResponse:
        selected = Selection(gv, plural, namespace, selector(request.query.get("labelSelector", "")))
        if request.method == "GET" and request.query.get("watch") in ("1", "true"):
            return await self._watch(request, selected)
        if request.method == "GET":
            return self._list(selected, dict(request.query))
        if request.method == "POST":
            obj = await request.json()
            key = self._key(request.path, obj)
            if key in self.objects:
                return error(409, "AlreadyExists", f'{plural} "{key[3]}" already exists')
            return web.json_response(self._write("ADDED", key, obj), status=201)
        return error(405, "MethodNotAllowed", f"{request.method} on a collection")

    async def _object(self, request: web.Request, key: Key, *, status: bool) -> web.Response:
        existing, query = self.objects.get(key), request.query
        if request.method == "PATCH" and request.content_type == "application/apply-patch+yaml":
            if not query.get("fieldManager"):
                return error(400, "BadRequest", "fieldManager: Required value: is required for apply patch")
            obj = await request.json()  # JSON is YAML
            if existing:
                obj["metadata"]["uid"] = existing["metadata"]["uid"]
            if query.get("dryRun") == "All":
                return web.json_response(obj)
            return web.json_response(self._write("MODIFIED" if existing else "ADDED", key, obj))
        if existing is None:
            return error(404, "NotFound", f'{key[1]} "{key[3]}" not found')
        if request.method == "GET":
            return web.json_response(existing)
        if request.method == "PATCH" and request.content_type == "application/merge-patch+json":
            patch = await request.json()
            if status:  # the status subresource changes nothing else
                patch = {"status": patch.get("status")}
            return web.json_response(self._write("MODIFIED", key, merge(copy.deepcopy(existing), patch)))
        if request.method == "DELETE":
            return web.json_response(self._write("DELETED", key, existing))
        return error(415, "UnsupportedMediaType", f"{request.method} {request.content_type}")

    def _list(self, selected: Selection, query: dict[str, str]) -> web.Response:
        """`limit` and `continue` as the apiserver pages: a token names where the next page starts and the
        revision it was issued at; one issued before a compaction answers 410 Expired."""
        items = [  # the apiserver leaves apiVersion and kind out of list items
            {k: v for k, v in obj.items() if k not in ("apiVersion", "kind")}
            for key, obj in sorted(self.objects.items())
            if selected.sees(key, obj)
        ]
        start, issued, epoch = 0, self.revision, self.compactions
        if query.get("continue"):
            epoch, issued, start = (int(part) for part in query["continue"].split(":"))
            if epoch < self.compactions:
                message = "The provided continue parameter is too old to display a consistent list result."
                return error(410, "Expired", message)
        metadata: JSON = {"resourceVersion": str(issued)}
        limit = int(query.get("limit") or 0)
        if limit and start + limit < len(items):
            metadata["continue"] = f"{epoch}:{issued}:{start + limit}"
            metadata["remainingItemCount"] = len(items) - start - limit
        self.pages += 1
        if self.after_page is not None:
            self.after_page(self.pages)
        return web.json_response(
            {
                "kind": f"{KINDS[selected.group_version, selected.plural]}List",
                "apiVersion": selected.group_version,
                "metadata": metadata,
                "items": items[start : start + limit] if limit else items,
            }
        )

    async def _watch(self, request: web.Request, watch: Selection) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or self.revision)
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        if since < self.compacted:
            await self._send(response, {"type": "ERROR", "object": self._too_old()})
            return response
        for revision, key, event in self.history:
            if revision > since and watch.sees(key, event["object"]):
                watch.queue.put_nowait(event)
        self.watches.append(watch)
        try:
            while (queued := await watch.queue.get()) is not None:
                if queued is _DROP:
                    assert request.transport is not None
                    request.transport.abort()
                    break
                await self._send(response, queued)
        finally:
            self.watches.remove(watch)
        return response

    async def _send(self, response: web.StreamResponse, event: JSON) -> None:
        line = json.dumps(event).encode() + b"\n"
        for start in range(0, len(line), self.chunk_size):
            await response.write(line[start : start + self.chunk_size])

"""KubeClient against a fake API server: requests, errors, credentials, discovery and watch streams."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path

import kopf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.support.fake_apiserver import BIG, FakeApi, status
from tests.support.polling import eventually

from webstack_operator.kube.client import LIST_ATTEMPTS, ApiError, KubeClient, Resource, retry_after_seconds

CONFIGMAPS = "/api/v1/namespaces/team/configmaps"


def configmap(name: str, **data: str) -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


# ---------------------------------------------------------------------- requests
async def test_a_request_sends_json_and_returns_the_answer(api: FakeApi, client: KubeClient) -> None:
    created = await client.request(
        "POST", CONFIGMAPS, body=configmap("a", k="v"), params={"fieldManager": "t"}
    )
    assert created["metadata"]["namespace"] == "team"
    assert created["metadata"]["uid"]
    [sent] = api.requests_to(CONFIGMAPS)
    assert sent.method == "POST"
    assert sent.content_type == "application/json"
    assert sent.query == {"fieldManager": "t"}
    assert sent.json() == configmap("a", k="v")
    assert sent.headers["Accept"] == "application/json"
    assert (await client.request("GET", f"{CONFIGMAPS}/a"))["data"] == {"k": "v"}


async def test_an_empty_answer_is_an_empty_object(api: FakeApi, client: KubeClient) -> None:
    api.answer("DELETE", f"{CONFIGMAPS}/a", 200, "")
    assert await client.request("DELETE", f"{CONFIGMAPS}/a") == {}


async def test_writes_carry_their_content_type_query_and_body(api: FakeApi, client: KubeClient) -> None:
    path = f"{CONFIGMAPS}/a"
    apply = {"fieldManager": "webstack-operator", "force": "true"}
    ctype = "application/apply-patch+yaml"
    dry = await client.request(
        "PATCH", path, body=configmap("a", k="1"), params={**apply, "dryRun": "All"}, content_type=ctype
    )
    assert dry["data"] == {"k": "1"}
    assert api.objects == {}  # a dry run persists nothing
    applied = await client.request(
        "PATCH", path, body=configmap("a", k="1"), params=apply, content_type=ctype
    )
    patched = await client.request(
        "PATCH",
        f"{path}/status",
        body={"status": {"phase": "Ready"}},
        content_type="application/merge-patch+json",
    )
    assert patched["status"] == {"phase": "Ready"}
    assert patched["metadata"]["uid"] == applied["metadata"]["uid"]
    options = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": "Background"}
    await client.request("DELETE", path, body=options)
    assert api.objects == {}
    sent = [(r.method, r.path, r.content_type, r.query.get("dryRun")) for r in api.requests]
    assert sent == [
        ("PATCH", path, ctype, "All"),
        ("PATCH", path, ctype, None),
        ("PATCH", f"{path}/status", "application/merge-patch+json", None),
        ("DELETE", path, "application/json", None),
    ]
    assert api.requests[-1].json() == options


# ---------------------------------------------------------------------- lists, in pages
async def test_a_list_is_read_in_pages_with_limit_and_continue(api: FakeApi, client: KubeClient) -> None:
    """Each page is one request under its own timeout: a big list no longer races one 30 s total."""
    for name in "abcde":
        api.create(CONFIGMAPS, configmap(name))
    listed = await client.list_all(CONFIGMAPS, {"fieldSelector": "metadata.namespace=team"}, page_size=2)
    assert [item["metadata"]["name"] for item in listed["items"]] == list("abcde")
    assert listed["metadata"] == {"resourceVersion": "105"}  # the snapshot's, no continue left
    sent = [r.query for r in api.requests_to(CONFIGMAPS)]
    assert [q.get("limit") for q in sent] == ["2", "2", "2"]
    assert [q.get("continue") for q in sent] == [None, "0:105:2", "0:105:4"]
    assert all(q["fieldSelector"] == "metadata.namespace=team" for q in sent)


async def test_an_expired_continue_token_lists_again_from_the_start(api: FakeApi, client: KubeClient) -> None:
    for name in "abc":
        api.create(CONFIGMAPS, configmap(name))
    api.after_page = lambda n: api.expire() if n == 1 else None  # compacted between the first two pages
    listed = await client.list_all(CONFIGMAPS, {}, page_size=2)
    assert [item["metadata"]["name"] for item in listed["items"]] == list("abc")
    tokens = [r.query.get("continue") for r in api.requests_to(CONFIGMAPS)]
    assert tokens == [None, "0:103:2", None, "1:103:2"]  # the second page refused; the list started over


async def test_a_list_whose_continue_keeps_expiring_gives_up_with_the_410(
    api: FakeApi, client: KubeClient
) -> None:
    for name in "abc":
        api.create(CONFIGMAPS, configmap(name))
    api.after_page = lambda _: api.expire()  # every first page is followed by a compaction
    with pytest.raises(ApiError) as caught:
        await client.list_all(CONFIGMAPS, {}, page_size=2)
    assert caught.value.status == 410
    assert len(api.requests_to(CONFIGMAPS)) == 2 * LIST_ATTEMPTS


# ---------------------------------------------------------------------- errors
async def test_an_error_carries_the_status_objects_reason_and_message(
    api: FakeApi, client: KubeClient
) -> None:
    api.answer("PATCH", f"{CONFIGMAPS}/a", 409, status(409, "Conflict", "Apply failed with 1 conflict"))
    with pytest.raises(ApiError) as caught:
        await client.request("PATCH", f"{CONFIGMAPS}/a", body={}, params={"fieldManager": "t"})
    error = caught.value
    assert (error.status, error.reason, error.message) == (409, "Conflict", "Apply failed with 1 conflict")
    assert str(error) == f"PATCH {CONFIGMAPS}/a: 409 Conflict: Apply failed with 1 conflict"
    assert not error.transient


async def test_a_missing_object_is_a_404_not_found(client: KubeClient) -> None:
    with pytest.raises(ApiError) as caught:
        await client.request("GET", f"{CONFIGMAPS}/absent")
    assert (caught.value.status, caught.value.reason) == (404, "NotFound")
    assert caught.value.message == 'configmaps "absent" not found'


@pytest.mark.parametrize(
    ("code", "transient"),
    [
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (429, True),
        (400, False),
        (403, False),
        (422, False),
    ],
)
async def test_server_errors_and_throttling_are_transient(
    api: FakeApi, client: KubeClient, code: int, transient: bool
) -> None:
    api.answer("GET", CONFIGMAPS, code, status(code, "Whatever", "try again, or not"))
    with pytest.raises(ApiError) as caught:
        await client.request("GET", CONFIGMAPS)
    assert caught.value.status == code
    assert caught.value.transient is transient


@pytest.mark.parametrize("body", ["<html><body>502 Bad Gateway</body></html>", '"not a Status"'])
async def test_an_answer_that_is_not_a_status_keeps_the_http_reason(
    api: FakeApi, client: KubeClient, body: str
) -> None:
    api.answer("GET", CONFIGMAPS, 502, body)
    with pytest.raises(ApiError) as caught:
        await client.request("GET", CONFIGMAPS)
    assert (caught.value.status, caught.value.reason, caught.value.message) == (502, "Bad Gateway", body)


async def test_a_dropped_connection_is_a_transient_status_0(api: FakeApi, client: KubeClient) -> None:
    api.drop("GET", CONFIGMAPS, times=2)
    with pytest.raises(ApiError) as caught:
        await client.request("GET", CONFIGMAPS)
    assert (caught.value.status, caught.value.reason) == (0, "ConnectionError")
    assert caught.value.transient
    assert len(api.requests_to(CONFIGMAPS)) == 2  # aiohttp itself sends an idempotent request once more
    assert (await client.request("GET", CONFIGMAPS))["items"] == []  # the next request reconnects


async def test_a_refused_connection_is_a_transient_status_0() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    kube = KubeClient(kopf.ConnectionInfo(server=f"http://127.0.0.1:{port}"), field_manager="kube-tests")
    try:
        with pytest.raises(ApiError) as caught:
            await kube.request("GET", "/api/v1")
    finally:
        await kube.close()
    assert (caught.value.status, caught.value.reason) == (0, "ConnectionError")
    assert caught.value.transient


@pytest.mark.parametrize(
    ("code", "header", "retry_after"),
    [
        (429, "7", 7.0),
        (503, "1.5", 1.5),
        (429, None, None),
        (503, "Wed, 21 Oct 2026 07:28:00 GMT", None),  # a date: not what the apiserver sends
        (429, "-3", None),
        (500, "7", None),  # only throttling and unavailability say when to come back
    ],
)
async def test_throttling_says_when_to_retry(
    code: int, header: str | None, retry_after: float | None
) -> None:
    async def answer(_: web.Request) -> web.Response:
        headers = {"Retry-After": header} if header is not None else {}
        return web.json_response(status(code, "TooManyRequests", "slow down"), status=code, headers=headers)

    app = web.Application()
    app.router.add_get("/api/v1", answer)
    async with TestServer(app) as server:
        kube = KubeClient(
            kopf.ConnectionInfo(server=str(server.make_url("")).rstrip("/")), field_manager="kube-tests"
        )
        try:
            with pytest.raises(ApiError) as caught:
                await kube.request("GET", "/api/v1")
        finally:
            await kube.close()
    assert caught.value.status == code
    assert caught.value.retry_after == retry_after


def test_retry_after_is_read_in_seconds() -> None:
    assert [retry_after_seconds(v) for v in ("0", "120", " 2 ", "soon", "", None, "inf", "nan")] == [
        0.0,
        120.0,
        2.0,
        None,
        None,
        None,
        None,
        None,
    ]


# ---------------------------------------------------------------------- credentials
async def test_the_token_is_sent_as_a_bearer_header(api: FakeApi, client: KubeClient) -> None:
    await client.request("GET", "/api/v1")
    assert api.requests[-1].headers["Authorization"] == "Bearer token-0"


async def test_without_a_token_username_and_password_are_sent(api: FakeApi) -> None:
    kube = KubeClient(
        kopf.ConnectionInfo(server=api.url, username="admin", password="secret"), field_manager="kube-tests"
    )
    try:
        await kube.request("GET", "/api/v1")
    finally:
        await kube.close()
    assert api.requests[-1].headers["Authorization"] == "Basic YWRtaW46c2VjcmV0"


async def test_the_token_file_is_read_again_when_it_changes(api: FakeApi, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("first\n")
    kube = KubeClient(
        kopf.ConnectionInfo(server=api.url, token="from-login"),
        token_path=str(token),
        field_manager="kube-tests",
    )
    try:
        await kube.request("GET", "/api/v1")
        token.write_text("second\n")
        mtime = token.stat().st_mtime + 10  # kubelet swaps the file; make sure the mtime moves
        os.utime(token, (mtime, mtime))
        await kube.request("GET", "/api/v1")
        token.unlink()  # unreadable for a moment: keep the last token rather than send none
        await kube.request("GET", "/api/v1")
    finally:
        await kube.close()
    sent = [r.headers["Authorization"] for r in api.requests]
    assert sent == ["Bearer first", "Bearer second", "Bearer second"]


# ---------------------------------------------------------------------- discovery
async def test_discovery_maps_each_served_kind_to_its_path(api: FakeApi, client: KubeClient) -> None:
    found = await client.discover()
    assert found[("v1", "ConfigMap")].path("team", "a") == "/api/v1/namespaces/team/configmaps/a"
    assert found[("v1", "Namespace")].path("team", "a") == "/api/v1/namespaces/a"  # cluster-scoped
    deployments = found[("apps/v1", "Deployment")]
    assert deployments == Resource("apps", "v1", "Deployment", "deployments", namespaced=True)
    assert deployments.path("team") == "/apis/apps/v1/namespaces/team/deployments"
    assert deployments.path() == "/apis/apps/v1/deployments"
    roles = found[("rbac.authorization.k8s.io/v1", "ClusterRole")]
    assert roles.path("team", "view") == "/apis/rbac.authorization.k8s.io/v1/clusterroles/view"
    assert found[("monitoring.coreos.com/v1", "ServiceMonitor")].api_version == "monitoring.coreos.com/v1"
    assert client.resource("apps/v1", "Deployment") is deployments
    assert client.resource("metrics.k8s.io/v1beta1", "PodMetrics") is None


async def test_discovery_skips_subresources_and_a_failing_group_version(
    api: FakeApi, client: KubeClient
) -> None:
    found = await client.discover()
    assert all("/" not in r.plural for r in found.values())  # deployments/status, deployments/scale, pods/log
    assert ("apps/v1", "Scale") not in found
    assert found[("v1", "Pod")].plural == "pods"
    assert api.requests_to("/apis/metrics.k8s.io/v1beta1")  # asked, answered 503, left out
    assert not any(api_version.startswith("metrics.k8s.io") for api_version, _ in found)


async def test_discovery_fails_when_the_core_api_does(api: FakeApi, client: KubeClient) -> None:
    api.answer("GET", "/api/v1", 503, status(503, "ServiceUnavailable", "etcd is down"))
    with pytest.raises(ApiError) as caught:
        await client.discover()
    assert caught.value.status == 503


# ---------------------------------------------------------------------- watch streams
async def test_a_stream_yields_one_event_per_line_however_the_bytes_arrive(
    api: FakeApi, client: KubeClient
) -> None:
    api.chunk_size = 7  # every event split, most chunks holding the end of one line and the start of the next
    for name in ("a", "b", "c"):
        api.create(CONFIGMAPS, configmap(name, k=name))
    events = []
    async with contextlib.aclosing(
        client.stream(CONFIGMAPS, {"watch": "1", "resourceVersion": "100"})
    ) as stream:
        async for event in stream:
            events.append((event["type"], event["object"]["metadata"]["name"]))
            if len(events) == 3:
                break
    assert events == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]


async def test_a_stream_carries_an_event_larger_than_aiohttps_line_limit(
    api: FakeApi, client: KubeClient
) -> None:
    dashboard = "x" * BIG
    api.create(CONFIGMAPS, configmap("dashboard", json=dashboard))
    api.create(CONFIGMAPS, configmap("small"))
    names = []
    async with contextlib.aclosing(
        client.stream(CONFIGMAPS, {"watch": "1", "resourceVersion": "100"})
    ) as stream:
        async for event in stream:
            names.append(event["object"]["metadata"]["name"])
            if len(names) == 2:
                break
            assert event["object"]["data"]["json"] == dashboard
    assert names == ["dashboard", "small"]


async def test_a_stream_ends_when_the_server_ends_it(api: FakeApi, client: KubeClient) -> None:
    api.create(CONFIGMAPS, configmap("a"))
    api.compacted = 102  # history from 102 on: an ERROR event, then the server closes the stream
    events = [e async for e in client.stream(CONFIGMAPS, {"watch": "1", "resourceVersion": "100"})]
    assert [e["type"] for e in events] == ["ERROR"]
    assert events[0]["object"]["code"] == 410


async def test_a_watch_refused_with_410_is_an_api_error(api: FakeApi, client: KubeClient) -> None:
    api.answer("GET", CONFIGMAPS, 410, status(410, "Expired", "too old resource version"), watch=True)
    with pytest.raises(ApiError) as caught:
        async for _ in client.stream(CONFIGMAPS, {"watch": "1", "resourceVersion": "1"}):
            pass
    assert (caught.value.status, caught.value.reason) == (410, "Expired")


async def test_a_stream_broken_mid_way_is_a_status_0_error(api: FakeApi, client: KubeClient) -> None:
    api.create(CONFIGMAPS, configmap("a"))
    seen = []

    async def read_until_broken() -> None:
        async for event in client.stream(CONFIGMAPS, {"watch": "1", "resourceVersion": "100"}):
            seen.append(event["type"])
            api.drop_watches()

    with pytest.raises(ApiError) as caught:
        await read_until_broken()
    assert seen == ["ADDED"]
    assert caught.value.status == 0


async def test_open_watches_never_leave_a_request_waiting_for_a_connection(api: FakeApi) -> None:
    """A namespaced operator holds one watch per kind and namespace (dozens): each holds a connection, and
    a list or write must still go out at once, not time out waiting for one of them to end."""
    kube = KubeClient(kopf.ConnectionInfo(server=api.url, token="t"), timeout=2, field_manager="kube-tests")

    async def follow() -> None:
        async for _ in kube.stream(CONFIGMAPS, {"watch": "1", "resourceVersion": "100"}):
            pass

    watches = [asyncio.get_running_loop().create_task(follow()) for _ in range(40)]
    try:
        await eventually(_count(api), until=lambda n: n == 40, within=10, what="40 open watches")
        assert (await kube.request("GET", CONFIGMAPS))["items"] == []
    finally:
        for task in watches:
            task.cancel()
        await asyncio.gather(*watches, return_exceptions=True)
        await kube.close()


def _count(api: FakeApi) -> Callable[[], Awaitable[int]]:
    async def open_watches() -> int:
        return len(api.watches)

    return open_watches


async def test_a_text_answer_is_read_as_text_and_a_refusal_is_an_api_error(
    api: FakeApi, client: KubeClient
) -> None:
    log = "/api/v1/namespaces/team/pods/p/log"
    api.answer("GET", log, 200, "line one\nline two\n", content_type="text/plain")
    assert await client.get_text(log, {"tailLines": "2"}) == "line one\nline two\n"
    [sent] = api.requests_to(log)
    assert sent.query == {"tailLines": "2"} and sent.headers["Accept"].startswith("text/plain")
    api.answer("GET", log, 403, status(403, "Forbidden", 'cannot get resource "pods/log"'))
    with pytest.raises(ApiError) as refused:
        await client.get_text(log)
    assert (refused.value.status, refused.value.reason) == (403, "Forbidden")

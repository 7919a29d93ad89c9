"""The UI's nginx config, rendered from the real template, in front of a real users API."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from localservices import NginxServer, UsersApiServer

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def nginx(api: UsersApiServer) -> Iterator[NginxServer]:
    with NginxServer(backend_url=api.url) as server:
        yield server


@pytest.fixture
async def web(nginx: NginxServer, clean_state: None) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=nginx.url, timeout=10) as client:
        yield client


async def test_serves_the_ui_with_security_headers(web: httpx.AsyncClient) -> None:
    page = await web.get("/")
    assert page.status_code == 200
    assert 'id="users-table"' in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "server" not in page.headers or "nginx/" not in page.headers["server"]
    script = await web.get("/app.js", headers={"accept-encoding": "gzip"})
    assert script.headers["content-type"] == "application/javascript"
    assert script.headers["content-encoding"] == "gzip"
    assert "loadPage" in script.text  # httpx decodes it
    unknown = await web.get("/some/client/route")
    assert unknown.status_code == 200
    assert unknown.text == page.text  # client-side routes fall back to the page


async def test_healthz_answers_without_the_backend(web: httpx.AsyncClient) -> None:
    response = await web.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok\n")


async def test_proxies_api_with_prefix_cache_header_and_request_id(web: httpx.AsyncClient) -> None:
    created = await web.post("/api/users", json={"email": "via@nginx.example", "name": "Via"})
    assert created.status_code == 201
    assert created.headers["location"] == f"/api/users/{created.json()['id']}"
    listed = await web.get("/api/users", headers={"x-request-id": "from-browser-1"})
    assert listed.status_code == 200
    assert listed.headers["x-cache"] in {"MISS", "HIT"}
    assert listed.headers["x-request-id"] == "from-browser-1"
    problem = await web.get("/api/users/999999")
    assert problem.status_code == 404
    assert problem.headers["content-type"] == "application/problem+json"
    generated = await web.get("/api/users")
    assert len(generated.headers["x-request-id"]) == 32  # nginx's $request_id, passed to the API


async def test_bodies_over_64k_stop_at_nginx(web: httpx.AsyncClient) -> None:
    response = await web.post(
        "/api/users", content=b"x" * (65 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413

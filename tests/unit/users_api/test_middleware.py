"""The request middleware on a tiny inline app: route templates, request ids, body limit, last-resort 500."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from users_api.errors import EXCEPTION_HANDLERS
from users_api.metrics import Metrics
from users_api.middleware import RequestContextMiddleware


async def echo(request: Request) -> Response:
    return PlainTextResponse(str(len(await request.body())))


async def boom(request: Request) -> Response:
    raise RuntimeError("SELECT secret FROM internals")


def client_for(metrics: Metrics) -> httpx.AsyncClient:
    app = Starlette(
        routes=[Route("/items/{id}", echo, methods=["GET", "POST"]), Route("/boom", boom)],
        middleware=[Middleware(RequestContextMiddleware, metrics=metrics, max_body_bytes=10)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


def count(metrics: Metrics, route: str, status: str, method: str = "GET") -> float:
    value = metrics.registry.get_sample_value(
        "users_api_http_requests_total", {"method": method, "route": route, "status": status}
    )
    return value or 0.0


async def test_metrics_use_the_route_template_and_request_ids_are_returned() -> None:
    metrics = Metrics()
    async with client_for(metrics) as client:
        response = await client.get("/items/7", headers={"x-request-id": "r-1"})
        assert response.headers["x-request-id"] == "r-1"
        await client.get("/nowhere")
        assert (await client.delete("/items/3")).status_code == 405
    assert count(metrics, "/items/{id}", "200") == 1
    assert count(metrics, "unmatched", "404") == 1
    assert count(metrics, "/items/{id}", "405", method="DELETE") == 1  # a wrong method still names its route


async def test_body_limit_by_declared_length_and_by_stream() -> None:
    async def stream() -> AsyncIterator[bytes]:
        yield b"01234"
        yield b"56789A"

    metrics = Metrics()
    async with client_for(metrics) as client:
        assert (await client.post("/items/1", content=b"0123456789")).text == "10"
        declared = await client.post("/items/1", content=b"0123456789A")
        assert declared.status_code == 413
        assert declared.headers["content-type"] == "application/problem+json"
        streamed = await client.post("/items/1", content=stream())
        assert "content-length" not in streamed.request.headers
        assert streamed.status_code == 413
    assert count(metrics, "/items/{id}", "413", method="POST") == 2


async def test_unhandled_errors_become_a_generic_500_problem() -> None:
    metrics = Metrics()
    async with client_for(metrics) as client:
        response = await client.get("/boom")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert "SELECT" not in response.text
    assert "RuntimeError" not in response.text
    assert count(metrics, "/boom", "500") == 1

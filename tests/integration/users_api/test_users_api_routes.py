"""Every route and every error status of the users API, against a real `users-api serve` on real servers."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from tests.support.users_api import assert_problem, metric

pytestmark = pytest.mark.services


async def create(client: httpx.AsyncClient, email: str, name: str = "Ada") -> dict[str, object]:
    response = await client.post("/api/users", json={"email": email, "name": name})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_create_returns_201_with_location_and_the_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/users", json={"email": "ada@example.com", "name": "  Ada Lovelace "})

    assert response.status_code == 201
    user = response.json()
    assert response.headers["location"] == f"/api/users/{user['id']}"
    assert user["email"] == "ada@example.com"
    assert user["name"] == "Ada Lovelace"  # surrounding whitespace is not part of a name
    assert user["created_at"] == user["updated_at"]
    assert set(user) == {"id", "email", "name", "created_at", "updated_at"}


async def test_get_returns_the_user(client: httpx.AsyncClient) -> None:
    created = await create(client, "grace@example.com", "Grace")

    response = await client.get(f"/api/users/{created['id']}")

    assert response.status_code == 200
    assert response.json() == created
    assert response.headers["content-type"] == "application/json"


async def test_list_pages_with_keyset_cursor_until_the_end(client: httpx.AsyncClient) -> None:
    emails = [f"user{i}@example.com" for i in range(5)]
    for email in emails:
        await create(client, email)

    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        response = await client.get("/api/users", params=params)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= 2
        seen += [user["email"] for user in page["items"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == emails
    assert pages == 3


async def test_list_defaults_to_50_and_accepts_the_bounds(client: httpx.AsyncClient) -> None:
    empty = await client.get("/api/users")
    assert empty.json() == {"items": [], "next_cursor": None}
    for limit in ("1", "200"):
        assert (await client.get("/api/users", params={"limit": limit})).status_code == 200


async def test_patch_changes_only_the_given_fields(client: httpx.AsyncClient) -> None:
    created = await create(client, "linus@example.com", "Linus")

    response = await client.patch(f"/api/users/{created['id']}", json={"name": "Linus T."})

    assert response.status_code == 200
    updated = response.json()
    assert updated["name"] == "Linus T."
    assert updated["email"] == "linus@example.com"
    assert updated["updated_at"] > str(created["updated_at"])
    assert (await client.get(f"/api/users/{created['id']}")).json() == updated


async def test_delete_returns_204_then_the_user_is_gone(client: httpx.AsyncClient) -> None:
    created = await create(client, "ken@example.com")

    response = await client.delete(f"/api/users/{created['id']}")

    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/api/users/{created['id']}"), 404)
    assert_problem(await client.delete(f"/api/users/{created['id']}"), 404)


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "dTE6eA"},
        {"cursor": ""},
        {"limit": "0"},
        {"limit": "201"},
        {"limit": "x"},
    ],
)
async def test_bad_cursor_or_limit_is_400(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    body = assert_problem(await client.get("/api/users", params=params), 400)
    assert body["errors"][0]["field"] in params  # type: ignore[index]


@pytest.mark.parametrize(
    "path", ["/api/users/999", "/api/users/abc", "/api/users/0", "/api/users/99999999999999999999", "/nope"]
)
async def test_unknown_resources_are_404_problems(client: httpx.AsyncClient, path: str) -> None:
    assert_problem(await client.get(path), 404)


async def test_wrong_method_is_405_problem_listing_every_method_of_the_path(
    client: httpx.AsyncClient,
) -> None:
    for method, path, allowed in (
        ("PUT", "/api/users/1", {"GET", "HEAD", "PATCH", "DELETE"}),
        ("DELETE", "/api/users", {"GET", "HEAD", "POST"}),
        ("OPTIONS", "/api/users", {"GET", "HEAD", "POST"}),
    ):
        response = await client.request(method, path, json={})
        assert_problem(response, 405)
        assert {m.strip() for m in response.headers["allow"].split(",")} == allowed, (method, path)


async def test_a_cursor_past_every_id_is_an_empty_last_page(client: httpx.AsyncClient) -> None:
    await create(client, "last@example.com")
    past_bigint = "dTE6OTIyMzM3MjAzNjg1NDc3NTgwOA"  # u1:9223372036854775808, one past the largest id
    response = await client.get("/api/users", params={"cursor": past_bigint})
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


async def test_duplicate_email_is_409_case_insensitively(client: httpx.AsyncClient) -> None:
    first = await create(client, "Dup@Example.com")
    other = await create(client, "other@example.com")

    body = assert_problem(
        await client.post("/api/users", json={"email": "dup@EXAMPLE.com", "name": "B"}), 409
    )
    assert body["errors"] == [{"field": "email", "message": "is already taken", "type": "conflict"}]
    # Renaming another user onto a taken email is a conflict too; changing one's own case is not.
    assert_problem(await client.patch(f"/api/users/{other['id']}", json={"email": "DUP@example.com"}), 409)
    same = await client.patch(f"/api/users/{first['id']}", json={"email": "dup@example.com"})
    assert same.status_code == 200


async def test_body_over_64_kib_is_413(client: httpx.AsyncClient) -> None:
    big = {"email": "big@example.com", "name": "x" * (64 * 1024)}
    assert_problem(await client.post("/api/users", json=big), 413)


async def test_chunked_body_over_64_kib_is_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"email": "big@example.com", "name": "'
        for _ in range(80):
            yield b"x" * 1024
        yield b'"}'

    response = await client.post("/api/users", content=chunks(), headers={"content-type": "application/json"})
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


async def test_non_json_body_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/users", content=b"email=a@b.co", headers={"content-type": "text/plain"}
    )
    assert_problem(response, 415)
    response = await client.post("/api/users", content=b"{}")  # no content type at all
    assert_problem(response, 415)


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    created = await create(client, "json@example.com")
    for method, path in (("POST", "/api/users"), ("PATCH", f"/api/users/{created['id']}")):
        response = await client.request(
            method, path, content=b"{not json", headers={"content-type": "application/json"}
        )
        assert_problem(response, 400)


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"email": "not-an-email", "name": "A"}, {"email"}),
        ({"email": "a@example.com"}, {"name"}),
        ({"email": "a@example.com", "name": "   "}, {"name"}),
        ({"email": "a@example.com", "name": "A", "admin": True}, {"admin"}),
        ({"email": "a@example.com", "name": "A\u0000"}, {"name"}),  # Postgres text cannot hold NUL
        ({"email": "a\u0000@example.com", "name": "A"}, {"email"}),
        ({}, {"email", "name"}),
        ([1, 2], {"body"}),
    ],
)
async def test_invalid_fields_are_422_naming_each_field(
    client: httpx.AsyncClient, payload: object, fields: set[str]
) -> None:
    body = assert_problem(await client.post("/api/users", json=payload), 422)
    assert {error["field"] for error in body["errors"]} == fields  # type: ignore[attr-defined]
    for field in fields - {"body"}:
        assert field in str(body["detail"])


async def test_empty_or_null_patch_is_422(client: httpx.AsyncClient) -> None:
    created = await create(client, "p@example.com")
    assert_problem(await client.patch(f"/api/users/{created['id']}", json={}), 422)
    body = assert_problem(
        await client.patch(f"/api/users/{created['id']}", json={"email": None, "name": None}), 422
    )
    assert {error["field"] for error in body["errors"]} == {"email", "name"}  # type: ignore[attr-defined]
    assert_problem(await client.patch("/api/users/12345", json={"name": "X"}), 404)


async def test_request_id_is_echoed_or_generated(client: httpx.AsyncClient) -> None:
    echoed = await client.get("/healthz", headers={"x-request-id": "abc-123"})
    assert echoed.headers["x-request-id"] == "abc-123"
    generated = await client.get("/healthz", headers={"x-request-id": "bad id with spaces"})
    assert len(generated.headers["x-request-id"]) == 32


async def test_healthz_and_readyz(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "cache": "closed"}}


async def test_openapi_describes_every_route(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    assert set(document["paths"]["/api/users"]) == {"get", "post"}
    assert {"get", "patch", "delete"} <= set(document["paths"]["/api/users/{id}"])
    assert {"User", "UserCreate", "UserUpdate", "UserPage", "Problem"} <= set(
        document["components"]["schemas"]
    )


async def test_metrics_count_requests_by_route_template(client: httpx.AsyncClient) -> None:
    created = await create(client, "m@example.com")
    labels = {"method": "GET", "route": "/api/users/{id}", "status": "200"}
    before = await metric(client, "users_api_http_requests_total", labels)

    await client.get(f"/api/users/{created['id']}")
    await client.get(f"/api/users/{created['id']}")

    assert await metric(client, "users_api_http_requests_total", labels) == before + 2
    text = (await client.get("/metrics")).text
    for name in (
        "users_api_http_request_duration_seconds_bucket",
        "users_api_cache_hits_total",
        "users_api_cache_misses_total",
        "users_api_db_pool_size",
        "users_api_db_pool_idle",
        "users_api_db_queries_total",
    ):
        assert name in text
    assert f"/api/users/{created['id']}" not in text  # raw paths would explode cardinality
    assert await metric(client, "users_api_db_pool_size") >= 1

"""The OpenAPI document is built from the models and covers every route."""

from __future__ import annotations

from users_api.app import build_routes
from users_api.openapi import build_openapi


def test_every_api_route_is_documented() -> None:
    document = build_openapi()
    for route in build_routes():
        if route.path == "/openapi.json":
            continue
        assert route.path in document["paths"], route.path
        for method in route.methods or ():
            if method != "HEAD":
                assert method.lower() in document["paths"][route.path], (route.path, method)


def test_refs_resolve() -> None:
    document = build_openapi()
    schemas = document["components"]["schemas"]
    text = str(document)
    for name in ("User", "UserCreate", "UserUpdate", "UserPage", "Problem"):
        assert name in schemas
    assert "#/$defs/" not in text

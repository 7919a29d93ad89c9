"""The OpenAPI document is built from the models and the rules the app enforces, and covers every route."""

from __future__ import annotations

import re

from users_api.app import build_routes
from users_api.cursor import CURSOR_MAX_LENGTH, CURSOR_PATTERN
from users_api.endpoints import USER_ROUTE, USERS_ROUTE
from users_api.models import EMAIL_MAX_LENGTH, EMAIL_PATTERN, NAME_MAX_LENGTH, NAME_PATTERN, UserCreate
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


def test_every_operation_with_a_body_documents_how_reading_it_fails() -> None:
    paths = build_openapi()["paths"]
    for path, method in ((USERS_ROUTE, "post"), (USER_ROUTE, "patch")):
        responses = paths[path][method]["responses"]
        for status in ("400", "413", "415", "422"):
            assert "application/problem+json" in responses[status]["content"], (path, method, status)


def test_the_cursor_parameter_carries_the_rule_the_app_enforces() -> None:
    (cursor,) = (
        p for p in build_openapi()["paths"][USERS_ROUTE]["get"]["parameters"] if p["name"] == "cursor"
    )
    assert cursor["schema"] == {"type": "string", "maxLength": CURSOR_MAX_LENGTH, "pattern": CURSOR_PATTERN}
    assert re.fullmatch(CURSOR_PATTERN, cursor["example"])


def test_request_fields_carry_the_rules_the_app_enforces() -> None:
    schemas = build_openapi()["components"]["schemas"]
    for model in ("UserCreate", "UserUpdate"):
        fields = schemas[model]["properties"]
        assert (fields["email"]["pattern"], fields["email"]["maxLength"]) == (EMAIL_PATTERN, EMAIL_MAX_LENGTH)
        assert (fields["name"]["pattern"], fields["name"]["maxLength"]) == (NAME_PATTERN, NAME_MAX_LENGTH)
    for example in schemas["UserCreate"]["examples"]:
        UserCreate.model_validate(example)


def test_a_wrong_method_lists_every_method_of_the_path() -> None:
    """One route per path: a 405 answers with all of them in `Allow` (RFC 9110), HEAD with GET."""
    document = build_openapi()
    routes = {route.path: route for route in build_routes()}
    for path in (USERS_ROUTE, USER_ROUTE):
        documented = {method.upper() for method in document["paths"][path] if method != "parameters"}
        assert routes[path].methods == documented | {"HEAD"}

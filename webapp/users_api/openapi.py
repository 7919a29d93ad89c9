"""The OpenAPI 3.1 document, generated from the same pydantic models that validate requests and responses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic.json_schema import models_json_schema
from starlette.requests import Request
from starlette.responses import Response

from users_api import __version__
from users_api.cursor import CURSOR_MAX_LENGTH, CURSOR_PATTERN, MAX_ID, encode_cursor
from users_api.endpoints import DEFAULT_LIMIT, MAX_LIMIT, USER_ROUTE, USERS_ROUTE
from users_api.models import User, UserCreate, UserPage, UserUpdate
from users_api.responses import dumps
from webstack_contract import metric_names as names

_REF = "#/components/schemas/{model}"


def _problem(description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": _REF.format(model="Problem")}}},
        **extra,
    }


def _json_body(model: str) -> dict[str, Any]:
    """A required JSON body; any `application/*+json` media type is read the same way."""
    return {"required": True, "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}}}


# The failures of reading a body, the same on every operation that takes one.
_BODY_PROBLEMS = {
    "400": _problem("The body is not valid JSON (RFC 8259, UTF-8)."),
    "413": _problem("The body is larger than the limit (64 KiB by default)."),
    "415": _problem(
        "The body is not JSON: send Content-Type application/json.",
        headers={"Accept": {"schema": {"type": "string", "const": "application/json"}}},
    ),
    "422": _problem("Invalid fields: `errors` names each one and what is wrong."),
}
# After a create, the new user is reachable by its id: what clients (and stateful tests) follow.
_CREATED_USER_LINKS = {
    name: {"operationId": operation, "parameters": {"id": "$response.body#/id"}}
    for name, operation in (
        ("GetUser", "getUser"),
        ("UpdateUser", "updateUser"),
        ("DeleteUser", "deleteUser"),
    )
}


def _json(model: str, description: str, **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": _REF.format(model=model)}}},
        **extra,
    }


_PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}


def build_openapi() -> dict[str, Any]:
    _, schemas = models_json_schema(
        [
            (model, "validation" if model in (UserCreate, UserUpdate) else "serialization")
            for model in (User, UserCreate, UserUpdate, UserPage)
        ],
        ref_template=_REF,
    )
    components = {**schemas.get("$defs", {}), "Problem": _PROBLEM_SCHEMA}
    id_parameter = {
        "name": "id",
        "in": "path",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
    }
    x_cache = {
        "X-Cache": {
            "description": "HIT, MISS or BYPASS",
            "schema": {"type": "string", "enum": ["HIT", "MISS", "BYPASS"]},
        },
        "X-Cache-Layer": {
            "description": "On a HIT: which cache answered, this replica's near cache or Redis",
            "schema": {"type": "string", "enum": [names.LAYER_LOCAL, names.LAYER_REDIS]},
        },
    }
    unavailable = _problem(
        "The database is unavailable; retry after the given seconds.",
        headers={"Retry-After": {"schema": {"type": "string", "pattern": "^[0-9]+$"}}},
    )
    return {
        "openapi": "3.1.0",
        "info": {"title": "Users API", "version": __version__},
        "paths": {
            USERS_ROUTE: {
                "get": {
                    "operationId": "listUsers",
                    "summary": "List users in id order, one page at a time (keyset pagination).",
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_LIMIT,
                                "default": DEFAULT_LIMIT,
                            },
                        },
                        {
                            "name": "cursor",
                            "in": "query",
                            "schema": {
                                "type": "string",
                                "maxLength": CURSOR_MAX_LENGTH,
                                "pattern": CURSOR_PATTERN,
                            },
                            "description": (
                                "next_cursor of the previous page, unchanged. Omit it for the first page; "
                                "an empty value is not a cursor."
                            ),
                            "example": encode_cursor(50),
                        },
                    ],
                    "responses": {
                        "200": _json("UserPage", "A page of users.", headers=x_cache),
                        "400": _problem("limit or cursor is not of the schema; `errors` names which."),
                        "503": unavailable,
                    },
                },
                "post": {
                    "operationId": "createUser",
                    "requestBody": _json_body("UserCreate"),
                    "responses": {
                        "201": _json(
                            "User",
                            "Created.",
                            headers={"Location": {"required": True, "schema": {"type": "string"}}},
                            links=_CREATED_USER_LINKS,
                        ),
                        **_BODY_PROBLEMS,
                        "409": _problem("The email is taken (compared case-insensitively)."),
                        "503": unavailable,
                    },
                },
            },
            USER_ROUTE: {
                "parameters": [id_parameter],
                "get": {
                    "operationId": "getUser",
                    "responses": {
                        "200": _json("User", "The user.", headers=x_cache),
                        "404": _problem("No such user."),
                        "503": unavailable,
                    },
                },
                "patch": {
                    "operationId": "updateUser",
                    "requestBody": _json_body("UserUpdate"),
                    "responses": {
                        "200": _json("User", "Updated."),
                        **_BODY_PROBLEMS,
                        "404": _problem("No such user."),
                        "409": _problem("The email is taken (compared case-insensitively)."),
                        "503": unavailable,
                    },
                },
                "delete": {
                    "operationId": "deleteUser",
                    "responses": {
                        "204": {"description": "Deleted."},
                        "404": _problem("No such user."),
                        "503": unavailable,
                    },
                },
            },
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "responses": {"200": {"description": "The process is alive."}},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "responses": {
                        "200": {"description": "Postgres is reachable."},
                        "503": _problem("Postgres is unreachable."),
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "responses": {"200": {"description": "Prometheus text format."}},
                }
            },
        },
        "components": {"schemas": components},
    }


def openapi_endpoint() -> Callable[[Request], Awaitable[Response]]:
    """Built once at startup; serving it is a constant."""
    document = dumps(build_openapi())

    async def openapi(request: Request) -> Response:
        return Response(document, media_type="application/json")

    return openapi

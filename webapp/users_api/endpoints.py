"""Handlers of the `/api/users` routes: parse and validate, call the repository, go through the cache."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from users_api.bodies import page_body, user_body
from users_api.cache import RESPONSE_HEADERS, CacheStatus
from users_api.cursor import MAX_ID, InvalidCursorError, decode_cursor, encode_cursor
from users_api.errors import ProblemError, field_errors, summarize_fields
from users_api.models import User, UserCreate, UserUpdate
from users_api.responses import RawJSONResponse
from users_api.state import app_state
from users_api.users import DuplicateEmailError

USERS_ROUTE = "/api/users"
USER_ROUTE = "/api/users/{id}"
DEFAULT_LIMIT = 50
MAX_LIMIT = 200

ModelT = TypeVar("ModelT", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]


def route(path: str, **handlers: Handler) -> Route:
    """One route per path with a handler per method, so a 405 lists every method of the path in `Allow`.

    (One Route per method would answer a wrong method with the methods of the first route only.)
    """

    async def by_method(request: Request) -> Response:
        return await handlers["GET" if request.method == "HEAD" else request.method](request)

    return Route(path, by_method, methods=list(handlers), name=path)


def parse_limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise ProblemError(
            400,
            f"limit must be an integer from 1 to {MAX_LIMIT}.",
            errors=[
                {"field": "limit", "message": f"must be an integer from 1 to {MAX_LIMIT}", "type": "query"}
            ],
        )
    return int(raw)


def parse_cursor(raw: str | None) -> int:
    """The id to list after; 0 (before every id) without a cursor."""
    if raw is None:
        return 0
    try:
        return decode_cursor(raw)
    except InvalidCursorError as exc:
        raise ProblemError(
            400,
            "cursor is invalid: pass the next_cursor of a previous page unchanged.",
            errors=[{"field": "cursor", "message": str(exc), "type": "query"}],
        ) from None


def parse_user_id(request: Request) -> int:
    raw = str(request.path_params["id"])
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_ID:
        raise ProblemError(404, f"No user with id {raw!r}.")
    return int(raw)


async def read_json(request: Request) -> Any:
    """The body as JSON. Its size is already capped by the middleware (413)."""
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise ProblemError(
            415, "Send the request body as application/json.", headers={"Accept": "application/json"}
        )
    body = await request.body()
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        raise ProblemError(400, "The request body is not valid JSON.") from None


def validate(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = field_errors(exc)
        raise ProblemError(422, summarize_fields(errors), errors=errors) from None


def user_json(user: User, *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return RawJSONResponse(user.__pydantic_serializer__.to_json(user), status_code=status, headers=headers)


def not_found(user_id: int) -> ProblemError:
    return ProblemError(404, f"No user with id {user_id}.")


def duplicate_email(email: str | None) -> ProblemError:
    return ProblemError(
        409,
        f"A user with email {email!r} already exists.",
        errors=[{"field": "email", "message": "is already taken", "type": "conflict"}],
    )


async def list_users(request: Request) -> Response:
    limit = parse_limit(request.query_params.get("limit"))
    after_id = parse_cursor(request.query_params.get("cursor"))
    state = app_state(request)

    async def load() -> bytes:
        rows, next_after = await state.users.list_page(after_id=after_id, limit=limit)
        return page_body(rows, None if next_after is None else encode_cursor(next_after))

    body, status = await state.cache.fetch(USERS_ROUTE, f"list:{limit}:{after_id}", load)
    return RawJSONResponse(body, headers=cache_headers(status))


async def get_user(request: Request) -> Response:
    user_id = parse_user_id(request)
    state = app_state(request)

    async def load() -> bytes:
        row = await state.users.get(user_id)
        if row is None:
            raise not_found(user_id)  # not cached: a 404 is cheap and must not outlive a create
        return user_body(row)

    body, status = await state.cache.fetch(USER_ROUTE, f"user:{user_id}", load)
    return RawJSONResponse(body, headers=cache_headers(status))


async def create_user(request: Request) -> Response:
    data = validate(UserCreate, await read_json(request))
    state = app_state(request)
    try:
        user = await state.users.create(email=data.email, name=data.name)
    except DuplicateEmailError:
        raise duplicate_email(data.email) from None
    await state.cache.invalidate()
    return user_json(user, status=201, headers={"Location": f"{USERS_ROUTE}/{user.id}"})


async def update_user(request: Request) -> Response:
    user_id = parse_user_id(request)
    data = validate(UserUpdate, await read_json(request))
    state = app_state(request)
    try:
        user = await state.users.update(user_id, email=data.email, name=data.name)
    except DuplicateEmailError:
        raise duplicate_email(data.email) from None
    if user is None:
        raise not_found(user_id)
    await state.cache.invalidate()
    return user_json(user)


async def delete_user(request: Request) -> Response:
    user_id = parse_user_id(request)
    state = app_state(request)
    if not await state.users.delete(user_id):
        raise not_found(user_id)
    await state.cache.invalidate()
    return Response(status_code=204)


def cache_headers(status: CacheStatus) -> dict[str, str]:
    return RESPONSE_HEADERS[status]

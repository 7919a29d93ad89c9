"""Errors as RFC 9457 `application/problem+json`, and the handlers that guarantee nothing else leaks.

Every failure a client can see is rendered here: the status, a stable title, a detail a person can act on and,
for 422, which fields are wrong. Exceptions from the database or the runtime are logged server-side and turned
into a generic problem, so a stack trace or an SQL statement never reaches a client.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from http import HTTPStatus
from typing import Any

from pydantic import ValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from users_api.responses import dumps

PROBLEM_MEDIA_TYPE = "application/problem+json"

log = logging.getLogger(__name__)


class ProblemError(Exception):
    """Raise anywhere in a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})


class DatabaseUnavailableError(Exception):
    """Postgres could not be reached (refused, reset, shutting down, timed out): the client gets a 503."""


def problem_document(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON body: `type` stays `about:blank`, so `title` is the standard phrase of the status."""
    document: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        document["instance"] = instance
    if errors is not None:
        document["errors"] = errors
    if extra:
        document.update(extra)
    return document


def problem_response(
    status: int,
    detail: str,
    *,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Response:
    body = dumps(problem_document(status, detail, instance=instance, errors=errors, extra=extra))
    return Response(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def field_errors(exc: ValidationError) -> list[dict[str, Any]]:
    """Pydantic errors reduced to what a form needs: which field, what is wrong. Input values are omitted."""
    return [
        {
            "field": ".".join(str(part) for part in error["loc"]) or "body",
            "message": str(error["msg"]).removeprefix("Value error, "),
            "type": error["type"],
        }
        for error in exc.errors(include_url=False, include_input=False, include_context=False)
    ]


def summarize_fields(errors: Iterable[Mapping[str, Any]]) -> str:
    fields = sorted({str(error["field"]) for error in errors})
    return "invalid fields: " + ", ".join(fields)


async def handle_problem(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status,
        exc.detail,
        instance=request.url.path,
        errors=exc.errors,
        headers=exc.headers,
        extra=exc.extra,
    )


async def handle_http_exception(request: Request, exc: Exception) -> Response:
    """Router-level errors (unknown path, wrong method) in the same format as ours."""
    assert isinstance(exc, HTTPException)
    detail = (
        exc.detail if exc.detail != HTTPStatus(exc.status_code).phrase else _default_detail(exc.status_code)
    )
    return problem_response(exc.status_code, detail, instance=request.url.path, headers=exc.headers)


async def handle_database_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("database unavailable", extra={"error": type(exc.__cause__ or exc).__name__})
    return problem_response(
        503,
        "The database is unavailable; retry shortly.",
        instance=request.url.path,
        headers={"Retry-After": "2"},
    )


def _default_detail(status: int) -> str:
    if status == 404:
        return "No resource at this path."
    if status == 405:
        return "This method is not allowed on this path."
    return HTTPStatus(status).description or HTTPStatus(status).phrase


EXCEPTION_HANDLERS = {
    ProblemError: handle_problem,
    HTTPException: handle_http_exception,
    DatabaseUnavailableError: handle_database_unavailable,
}

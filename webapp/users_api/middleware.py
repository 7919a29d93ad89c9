"""The one pure-ASGI middleware around every request: id, body limit, metrics, access log, last-resort 500.

It sits inside Starlette's ServerErrorMiddleware but outside the router, so it sees every response, including
the 404s and 405s of the router, and labels metrics with the route template rather than the raw path (a raw
path per user id would explode the metric's cardinality).
"""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from users_api.errors import ProblemError, problem_response
from users_api.metrics import Metrics
from webstack_contract.logs import bind_log_fields, reset_log_fields

access_log = logging.getLogger("users_api.access")
error_log = logging.getLogger("users_api.error")

_SAFE_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:-]{1,128}$")
# Probes and scrapes are frequent and uninteresting: logged at debug level only.
_QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED_ROUTE = "unmatched"


class BodyTooLargeError(ProblemError):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds the limit of {limit} bytes.")


def route_template(scope: Scope) -> str:
    """The path template the router matched (`/api/users/{id}`), also for a wrong method (405).

    Read after the app ran: Starlette's router records the route it picked in the (shared) scope.
    """
    route = scope.get("route")
    return route.path if isinstance(route, Route) else UNMATCHED_ROUTE


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, max_body_bytes: int) -> None:
        self.app = app
        self.metrics = metrics
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # One pass over the raw headers (names arrive lower-cased) rather than a Headers object per request.
        incoming_id = b""
        declared = 0
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming_id = incoming_id or value
            elif name == b"content-length" and value.isdigit():
                declared = int(value)
        encoded_id = incoming_id if _SAFE_REQUEST_ID.match(incoming_id) else os.urandom(16).hex().encode()
        request_id = encoded_id.decode("ascii")
        log_fields = bind_log_fields(request_id=request_id)
        status = 500
        response_started = False

        async def send_with_context(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = message["status"]
                response_started = True
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", encoded_id)]
            await send(message)

        received = 0

        async def receive_with_limit() -> Message:
            nonlocal received
            if declared > self.max_body_bytes:
                raise BodyTooLargeError(self.max_body_bytes)  # refuse before reading a byte of it
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLargeError(self.max_body_bytes)
            return message

        try:
            await self.app(scope, receive_with_limit, send_with_context)
        except Exception:
            # Nothing about the failure goes to the client; all of it goes to the log.
            error_log.exception(
                "unhandled error", extra={"route": route_template(scope), "method": scope["method"]}
            )
            if not response_started:
                response = problem_response(500, "An unexpected error occurred.", instance=scope["path"])
                await response(scope, receive, send_with_context)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            route = route_template(scope)
            metrics = self.metrics
            metrics.child(metrics.http_requests, method, route, str(status)).inc()
            metrics.child(metrics.http_duration, method, route).observe(elapsed)
            level = logging.DEBUG if scope["path"] in _QUIET_PATHS and status < 400 else logging.INFO
            if access_log.isEnabledFor(level):
                access_log.log(
                    level,
                    "request",
                    extra={
                        "method": method,
                        "path": scope["path"],
                        "route": route,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 3),
                        "client": scope["client"][0] if scope.get("client") else None,
                    },
                )
            reset_log_fields(log_fields)

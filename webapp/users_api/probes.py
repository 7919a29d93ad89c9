"""Operational endpoints: liveness, readiness and metrics.

Liveness never touches a dependency (restarting the pod does not fix Postgres); readiness fails when Postgres
is unreachable, so traffic moves to replicas that can serve it. The cache never affects readiness: without
Redis the service is slower, not broken.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from users_api.errors import DatabaseUnavailableError, problem_response
from users_api.responses import JSONResponse
from users_api.state import app_state

READINESS_TIMEOUT_SECONDS = 2.0


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    state = app_state(request)
    checks = {"database": "ok", "cache": state.cache.state}
    try:
        await state.users.ping(limit_seconds=READINESS_TIMEOUT_SECONDS)
    except DatabaseUnavailableError:
        checks["database"] = "unreachable"
        return problem_response(
            503, "The database is unreachable.", instance="/readyz", extra={"checks": checks}
        )
    return JSONResponse({"status": "ready", "checks": checks})


async def metrics(request: Request) -> Response:
    body, content_type = app_state(request).metrics.exposition()
    return Response(body, media_type=content_type)

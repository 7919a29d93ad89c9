"""The liveness endpoint: `/healthz` answers for a standby as well as for the leader.

kopf's own endpoint exists only once kopf runs, and kopf runs only in the leader; a standby must still
look alive to its kubelet. The leader is unhealthy when a part it depends on reports a problem (a child
watch dead for longer than the resync period: its cache no longer follows the cluster). A leader that
steps down is a standby again, healthy at once: its watches were closed on purpose.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web

HealthCheck = Callable[[], list[str]]  # problems, empty when healthy


@dataclass
class Health:
    """`checks` make the replica unhealthy (a restart may fix them); `notices` are shown but do not (a
    missing RBAC grant: restarting cannot grant a Role, so the pod stays up and says what is missing)."""

    role: str = "standby"
    checks: list[HealthCheck] = field(default_factory=list)
    notices: list[HealthCheck] = field(default_factory=list)

    def stand_by(self) -> None:
        """The leader's checks and notices go with its controller: a standby has no watches to go stale,
        and holding the checks would hold the stopped controller, and its caches, in memory."""
        self.role = "standby"
        self.checks.clear()
        self.notices.clear()

    def problems(self) -> list[str]:
        return [problem for check in self.checks for problem in check()]

    async def handle(self, _: web.Request) -> web.Response:
        problems = self.problems()
        body = {
            "status": "unhealthy" if problems else "ok",
            "role": self.role,
            "problems": problems,
            "warnings": [warning for notice in self.notices for warning in notice()],
        }
        return web.Response(
            status=503 if problems else 200, text=json.dumps(body), content_type="application/json"
        )


@contextlib.asynccontextmanager
async def serving(health: Health, port: int, host: str = "0.0.0.0") -> AsyncIterator[None]:  # noqa: S104
    """Serves `/healthz` on `port` (nothing when 0) for the duration of the block."""
    if not port:
        yield
        return
    app = web.Application()
    app.router.add_get("/healthz", health.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    try:
        yield
    finally:
        await runner.cleanup()

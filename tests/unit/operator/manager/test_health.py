"""`/healthz`: alive as a standby, unhealthy as a leader whose parts report a problem."""

from __future__ import annotations

import aiohttp

from kubelocal.process import free_port
from webstack_operator.manager.health import Health, serving


async def test_healthz_reports_role_and_problems() -> None:
    health, port = Health(), free_port()
    problems: list[str] = []
    health.checks.append(lambda: list(problems))
    async with serving(health, port, host="127.0.0.1"), aiohttp.ClientSession() as http:
        url = f"http://127.0.0.1:{port}/healthz"
        async with http.get(url) as response:
            assert response.status == 200
            assert await response.json() == {
                "status": "ok",
                "role": "standby",
                "problems": [],
                "warnings": [],
            }
        health.role = "leader"
        problems.append("watch of Service has not worked for over 300s")
        async with http.get(url) as response:
            assert response.status == 503
            body = await response.json()
            assert body["role"] == "leader"
            assert body["problems"] == ["watch of Service has not worked for over 300s"]


async def test_a_missing_grant_is_shown_without_failing_liveness() -> None:
    health, port = Health(role="leader"), free_port()
    health.notices.append(lambda: ["Schedule in velero: 403 Forbidden"])
    url = f"http://127.0.0.1:{port}/healthz"
    async with serving(health, port, host="127.0.0.1"), aiohttp.ClientSession() as http, http.get(url) as r:
        assert r.status == 200
        assert (await r.json())["warnings"] == ["Schedule in velero: 403 Forbidden"]


async def test_no_port_serves_nothing() -> None:
    async with serving(Health(), 0):
        pass

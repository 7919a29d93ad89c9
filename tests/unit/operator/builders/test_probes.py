"""Container probes: HTTP on a named port, or a command."""

from __future__ import annotations

from webstack_operator.builders.probes import exec_probe, http_probe


def test_http_probe_names_its_port_and_thresholds() -> None:
    assert http_probe("/healthz", period=5) == {
        "httpGet": {"path": "/healthz", "port": "http"},
        "periodSeconds": 5,
        "timeoutSeconds": 2,
        "failureThreshold": 3,
    }
    assert http_probe("/ready", period=10, port="metrics", failures=1)["httpGet"]["port"] == "metrics"


def test_exec_probe_runs_its_command() -> None:
    probe = exec_probe(["pg_isready", "-q"], period=10, timeout=3)
    assert probe["exec"] == {"command": ["pg_isready", "-q"]}
    assert (probe["periodSeconds"], probe["timeoutSeconds"], probe["failureThreshold"]) == (10, 3, 3)

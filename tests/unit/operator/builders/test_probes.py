"""Container probes (HTTP on a named port, or a command) and the drain before a stop."""

from __future__ import annotations

from tests.support.rendered_stacks import find, render

from users_api.cli import GRACEFUL_SHUTDOWN_SECONDS
from webstack_operator.builders.probes import DRAIN_SECONDS, exec_probe, http_probe


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


def test_serving_pods_drain_then_stop_within_their_grace_period() -> None:
    """The backend and the frontend sit behind Services (and an ALB): the kubelet sleeps before the stop
    signal, and the grace period covers the sleep plus the server's own graceful shutdown."""
    objects = render()
    for workload in ("shop-backend", "shop-frontend"):
        pod = find(objects, "Deployment", workload)["spec"]["template"]["spec"]
        for container in pod["containers"]:
            assert container["lifecycle"] == {"preStop": {"sleep": {"seconds": DRAIN_SECONDS}}}
        assert pod["terminationGracePeriodSeconds"] > DRAIN_SECONDS + GRACEFUL_SHUTDOWN_SECONDS

"""The harness's Prometheus: starts on loopback from the binaries cache, answers queries, loads rules,
scrapes a real users API, and reports what it rejects."""

from __future__ import annotations

import urllib.request

import pytest

from localservices import PrometheusServer, UsersApiServer
from localservices.prometheus import PrometheusError

pytestmark = pytest.mark.services


def test_ready_and_scrapes_itself(prometheus: PrometheusServer) -> None:
    with urllib.request.urlopen(f"{prometheus.url}/-/ready", timeout=5) as response:
        assert response.status == 200
    [up] = prometheus.wait_for_series('up{job="prometheus"} == 1')
    assert up["metric"]["instance"] == f"127.0.0.1:{prometheus.port}"
    assert prometheus.data_dir.is_dir() and prometheus.data_dir.is_relative_to(prometheus.dir)


def test_rules_are_evaluated_and_alerts_fire(prometheus: PrometheusServer) -> None:
    rules = {
        "groups": [
            {
                "name": "harness",
                "rules": [
                    {"record": "harness:up:sum", "expr": 'sum(up{job="prometheus"})'},
                    {"alert": "HarnessAlwaysFiring", "expr": "vector(1)", "labels": {"severity": "none"}},
                ],
            }
        ]
    }
    prometheus.configure(rules={"harness": rules})
    [recorded] = prometheus.wait_for_series("harness:up:sum")
    assert recorded["value"][1] == "1"
    firing = prometheus.wait_for_series('ALERTS{alertname="HarnessAlwaysFiring",alertstate="firing"}')
    assert firing[0]["metric"]["severity"] == "none"
    assert [a["labels"]["alertname"] for a in prometheus.alerts()] == ["HarnessAlwaysFiring"]


def test_scrapes_a_users_api_with_static_labels(prometheus: PrometheusServer, api: UsersApiServer) -> None:
    target = api.url.removeprefix("http://")
    prometheus.configure(
        scrape_configs=[
            {
                "job_name": "shop-backend-metrics",
                "static_configs": [{"targets": [target], "labels": {"namespace": "team-a"}}],
            }
        ]
    )
    series = prometheus.wait_for_series(
        'users_api_db_pool_size{job="shop-backend-metrics",namespace="team-a"}', timeout=30
    )
    assert series[0]["metric"]["instance"] == target


def test_errors_carry_prometheus_messages(prometheus: PrometheusServer) -> None:
    with pytest.raises(PrometheusError, match="parse error"):
        prometheus.query("sum(")
    bad = {"groups": [{"name": "bad", "rules": [{"record": "x", "expr": "rate("}]}]}
    with pytest.raises(PrometheusError, match="reload"):
        prometheus.configure(rules={"bad": bad})
    assert prometheus.running() and prometheus.query("vector(1)")[0]["value"][1] == "1"

"""Monitoring: ServiceMonitor on the metrics Service, alerts on the API's metric names, dashboard."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.support.rendered_stacks import NO_OPTIONAL_APIS, find, kinds, make_stack

from users_api.metrics import LATENCY_BUCKETS
from webstack_contract import metric_names
from webstack_operator.api.monitoring_types import MAX_OBSERVABLE_LATENCY_SECONDS
from webstack_operator.builders.monitoring import RUNBOOKS_URL, alert_rules, monitoring_objects
from webstack_operator.builders.operator_alerts import operator_alert_rules
from webstack_operator.builders.postgres import postgres_objects


def test_objects_and_release_label() -> None:
    objects = monitoring_objects(make_stack(monitoring={"release": "prom"}))
    assert kinds(objects) == [
        "ServiceMonitor/shop-backend",
        "PrometheusRule/shop-alerts",
        "ConfigMap/shop-dashboard",
    ]
    assert all(o["metadata"]["labels"].get("release") == "prom" for o in objects[:2])


def test_service_monitor_scrapes_the_metrics_service() -> None:
    monitor = monitoring_objects(make_stack(monitoring={"scrapeInterval": "15s"}))[0]
    assert monitor["spec"]["selector"]["matchLabels"]["webstack.dev/scrape"] == "true"
    assert monitor["spec"]["endpoints"] == [
        {"port": "http", "path": "/metrics", "interval": "15s", "scheme": "http"}
    ]
    assert "podTargetLabels" not in monitor["spec"]
    canary = {"delivery": {"strategy": "Canary", "steps": [{"setWeight": 5}]}}
    rollout_monitor = monitoring_objects(make_stack(backend=canary))[0]
    assert rollout_monitor["spec"]["podTargetLabels"] == ["rollouts-pod-template-hash"]


def test_service_monitor_selects_no_database_service() -> None:
    """The scrape selector must not pick up the Postgres client Service (it has no metrics port)."""
    ctx = make_stack()
    selector = monitoring_objects(ctx)[0]["spec"]["selector"]["matchLabels"]
    for service in postgres_objects(ctx)[:2]:
        assert service["kind"] == "Service"
        assert not selector.items() <= service["metadata"]["labels"].items(), service["metadata"]["name"]


def _rules(**sections: Any) -> dict[str, dict[str, Any]]:
    return {rule["alert"]: rule for rule in alert_rules(make_stack(**sections))}


def test_alerts_use_the_apis_metric_names_and_thresholds() -> None:
    rules = _rules(
        monitoring={"thresholds": {"errorRate": 0.02, "p95LatencySeconds": 0.3, "minCacheHitRatio": 0.7}}
    )
    assert sorted(rules) == [
        "WebStackBackendDown",
        "WebStackHighErrorRate",
        "WebStackHighLatency",
        "WebStackLowCacheHitRatio",
        "WebStackPostgresNotReady",
        "WebStackPostgresUnreachable",
        "WebStackRedisUnreachable",
    ]
    assert metric_names.HTTP_REQUESTS_TOTAL in rules["WebStackHighErrorRate"]["expr"]
    assert rules["WebStackHighErrorRate"]["expr"].endswith("> 0.02")
    assert f"{metric_names.HTTP_REQUEST_DURATION_SECONDS}_bucket" in rules["WebStackHighLatency"]["expr"]
    assert rules["WebStackHighLatency"]["expr"].endswith("> 0.3")
    assert metric_names.CACHE_HITS_TOTAL in rules["WebStackLowCacheHitRatio"]["expr"]
    assert metric_names.CACHE_MISSES_TOTAL in rules["WebStackLowCacheHitRatio"]["expr"]
    assert 'job="shop-backend-metrics"' in rules["WebStackBackendDown"]["expr"]
    assert all(rule["labels"]["severity"] in ("warning", "critical") for rule in rules.values())


def test_no_cache_alert_without_a_cache() -> None:
    rules = _rules(cache={"mode": "Disabled"})
    assert "WebStackLowCacheHitRatio" not in rules and "WebStackRedisUnreachable" not in rules
    assert "WebStackLowCacheHitRatio" not in _rules(monitoring={"thresholds": {"minCacheHitRatio": 0}})


def test_postgres_alerts() -> None:
    rules = _rules()
    assert metric_names.DB_UNAVAILABLE_TOTAL in rules["WebStackPostgresUnreachable"]["expr"]
    not_ready = rules["WebStackPostgresNotReady"]["expr"]
    assert (
        'kube_statefulset_status_replicas_ready{namespace="team-a",statefulset="shop-postgres"}' in not_ready
    )
    external = {"mode": "External", "credentials": {"secretRef": {"name": "db"}}}
    assert "WebStackPostgresNotReady" not in _rules(database=external)  # no StatefulSet to watch


def test_redis_alert_uses_the_bypass_threshold_and_errors() -> None:
    expr = _rules(monitoring={"thresholds": {"maxCacheBypassRatio": 0.25}})["WebStackRedisUnreachable"][
        "expr"
    ]
    assert metric_names.CACHE_BYPASS_TOTAL in expr and metric_names.CACHE_ERRORS_TOTAL in expr
    assert "> 0.25)" in expr


def test_backup_alerts_scale_with_the_schedule() -> None:
    assert "WebStackBackupMissing" not in _rules()
    daily = _rules(backup={"enabled": True, "schedule": "0 3 * * *"})
    assert "> 172800)" in daily["WebStackBackupMissing"]["expr"]  # twice a day
    assert "[172800s]" in daily["WebStackBackupMissing"]["expr"]
    assert 'velero_backup_last_status{schedule="team-a-shop-' in daily["WebStackBackupFailing"]["expr"]
    weekly = _rules(backup={"enabled": True, "schedule": "0 3 * * 0"})
    assert f"> {2 * 7 * 86400})" in weekly["WebStackBackupMissing"]["expr"]


def test_for_durations_come_from_the_spec() -> None:
    defaults = _rules()
    assert defaults["WebStackHighErrorRate"]["for"] == "10m"
    assert defaults["WebStackLowCacheHitRatio"]["for"] == "30m"
    shortened = _rules(monitoring={"alertFor": {"default": "30s", "WebStackBackendDown": "5s"}})
    assert shortened["WebStackBackendDown"]["for"] == "5s"
    assert {r["for"] for name, r in shortened.items() if name != "WebStackBackendDown"} == {"30s"}


def test_every_alert_links_its_runbook_section() -> None:
    runbooks = Path(__file__).resolve().parents[4] / "docs" / "ops" / "runbooks.md"
    anchors = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in runbooks.read_text().splitlines()
        if line.startswith("#")
    }
    rules = [
        *alert_rules(make_stack(backup={"enabled": True})),
        *operator_alert_rules(),
    ]
    for rule in rules:
        url = rule["annotations"]["runbook_url"]
        assert url.startswith(RUNBOOKS_URL + "#"), url
        assert url.split("#", 1)[1] in anchors, f"{rule['alert']}: no heading for {url}"


def test_dashboard_config_map_is_preset_to_the_stack() -> None:
    config_map = find(monitoring_objects(make_stack()), "ConfigMap", "shop-dashboard")
    assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    [(key, text)] = config_map["data"].items()
    assert key == "webstack-team-a-shop.json"
    dashboard = json.loads(text)
    assert dashboard["title"] == "WebStack / team-a/shop"
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["job"]["current"]["value"] == "shop-backend-metrics"


def test_switches() -> None:
    assert monitoring_objects(make_stack(monitoring={"enabled": False})) == []
    assert monitoring_objects(make_stack(capabilities=NO_OPTIONAL_APIS)) == []
    only_monitor = monitoring_objects(make_stack(monitoring={"alerts": False, "dashboard": False}))
    assert kinds(only_monitor) == ["ServiceMonitor/shop-backend"]


def test_the_latency_threshold_stays_below_the_largest_bucket() -> None:
    """A p95 above the largest finite bucket cannot be computed, so such an alert could never fire."""
    assert LATENCY_BUCKETS[-1] == MAX_OBSERVABLE_LATENCY_SECONDS

"""Monitoring: ServiceMonitor on the metrics Service, alerts on the API's metric names, dashboard."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.operator.builders.stacks import NO_OPTIONAL_APIS, find, kinds, make_stack

from users_api import metric_names
from webstack_operator.builders.monitoring import alert_rules, monitoring_objects


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
    assert "WebStackLowCacheHitRatio" not in _rules(cache={"mode": "Disabled"})


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

"""Prometheus Operator objects: ServiceMonitor, PrometheusRule, and the Grafana dashboard ConfigMap.

All carry the `release` label the Prometheus instance selects on (kube-prometheus-stack's convention).
The ServiceMonitor scrapes the dedicated metrics Service, which selects every backend pod: the stable and
canary Services are re-pointed by Argo Rollouts and would drop or double-count pods during a rollout.
"""

from users_api import metric_names as m
from webstack_operator import labels
from webstack_operator.builders import promql
from webstack_operator.builders.backend import SCRAPE_LABEL, metrics_service_name
from webstack_operator.builders.canary import HASH_LABEL
from webstack_operator.builders.common import Manifest, object_meta, short_hash
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.dashboard import build_dashboard, dashboard_json

GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"
ALERT_WINDOW = "5m"
CACHE_WINDOW = "30m"


def _release(ctx: StackContext) -> dict[str, str]:
    return {"release": ctx.spec.monitoring.release}


def _matchers(ctx: StackContext) -> dict[str, str]:
    return {"namespace": ctx.namespace, "job": metrics_service_name(ctx)}


def service_monitor(ctx: StackContext) -> Manifest:
    """Scrape `/metrics` of every backend pod, keeping the Rollout's pod hash as a label for analysis."""
    spec: Manifest = {
        "selector": {
            "matchLabels": {**labels.selector_labels(ctx.name, labels.BACKEND), SCRAPE_LABEL: "true"}
        },
        "namespaceSelector": {"matchNames": [ctx.namespace]},
        "endpoints": [
            {
                "port": "http",
                "path": "/metrics",
                "interval": ctx.spec.monitoring.scrape_interval,
                "scheme": "http",
            }
        ],
    }
    if ctx.uses_rollout:
        spec["podTargetLabels"] = [HASH_LABEL]
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": object_meta(ctx, ctx.child("backend"), labels.MONITORING, extra_labels=_release(ctx)),
        "spec": spec,
    }


def _alert(
    name: str, expr: str, duration: str, severity: str, summary: str, description: str, ctx: StackContext
) -> Manifest:
    return {
        "alert": name,
        "expr": expr,
        "for": duration,
        "labels": {"severity": severity, "webstack": ctx.name},
        "annotations": {"summary": summary, "description": description},
    }


def alert_rules(ctx: StackContext) -> list[Manifest]:
    """Error rate, p95 latency, backend down, and (with a cache) low hit ratio."""
    thresholds = ctx.spec.monitoring.thresholds
    matchers = _matchers(ctx)
    stack = f"{ctx.namespace}/{ctx.name}"
    rules = [
        _alert(
            "WebStackHighErrorRate",
            f"({promql.error_ratio(matchers, ALERT_WINDOW)}) > {thresholds.error_rate}",
            "10m",
            "critical",
            f"{stack}: users API error rate above {thresholds.error_rate:.0%}",
            "{{ $value | humanizePercentage }} of /api responses are 5xx "
            f"({m.HTTP_REQUESTS_TOTAL}, {ALERT_WINDOW} window).",
            ctx,
        ),
        _alert(
            "WebStackHighLatency",
            f"({promql.latency_quantile(0.95, matchers, ALERT_WINDOW)}) > {thresholds.p95_latency_seconds}",
            "10m",
            "warning",
            f"{stack}: users API p95 latency above {thresholds.p95_latency_seconds}s",
            "p95 of /api requests is {{ $value | humanizeDuration }} "
            f"({m.HTTP_REQUEST_DURATION_SECONDS}, {ALERT_WINDOW} window).",
            ctx,
        ),
        _alert(
            "WebStackBackendDown",
            f"({promql.targets_up(matchers)} == 0) or absent(up{promql.selector(matchers)})",
            "5m",
            "critical",
            f"{stack}: no users API pod can be scraped",
            "Prometheus has no reachable backend target: the API is down or unreachable.",
            ctx,
        ),
    ]
    if ctx.spec.cache.mode != "Disabled":
        hit_ratio = promql.cache_hit_ratio(matchers, CACHE_WINDOW)
        rules.append(
            _alert(
                "WebStackLowCacheHitRatio",
                f"({hit_ratio}) < {thresholds.min_cache_hit_ratio}",
                "30m",
                "warning",
                f"{stack}: cache hit ratio below {thresholds.min_cache_hit_ratio:.0%}",
                "Only {{ $value | humanizePercentage }} of cached reads hit Redis "
                f"({m.CACHE_HITS_TOTAL} / ({m.CACHE_HITS_TOTAL} + {m.CACHE_MISSES_TOTAL})).",
                ctx,
            )
        )
    return rules


def prometheus_rule(ctx: StackContext) -> Manifest:
    """The stack's alerts."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": object_meta(ctx, ctx.child("alerts"), labels.MONITORING, extra_labels=_release(ctx)),
        "spec": {"groups": [{"name": f"webstack.{ctx.namespace}.{ctx.name}", "rules": alert_rules(ctx)}]},
    }


def dashboard_config_map(ctx: StackContext) -> Manifest:
    """The dashboard, preset to this stack, for Grafana's sidecar (label `grafana_dashboard: "1"`)."""
    stack = f"{ctx.namespace}/{ctx.name}"
    dashboard = build_dashboard(
        uid=f"webstack-{short_hash(stack, 12)}",
        title=f"WebStack / {stack}",
        namespace=ctx.namespace,
        job=metrics_service_name(ctx),
    )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(
            ctx,
            ctx.child("dashboard"),
            labels.MONITORING,
            extra_labels={GRAFANA_DASHBOARD_LABEL: "1"},
            annotations={"grafana_folder": "WebStack"},
        ),
        "data": {f"webstack-{ctx.namespace}-{ctx.name}.json": dashboard_json(dashboard)},
    }


def monitoring_objects(ctx: StackContext) -> list[Manifest]:
    """Monitoring objects, when enabled and the Prometheus Operator is installed."""
    if not ctx.monitoring_enabled:
        return []
    spec = ctx.spec.monitoring
    objects = [service_monitor(ctx)]
    if spec.alerts:
        objects.append(prometheus_rule(ctx))
    if spec.dashboard:
        objects.append(dashboard_config_map(ctx))
    return objects

"""Prometheus Operator objects: ServiceMonitor, PrometheusRule, and the Grafana dashboard ConfigMap.

All carry the `release` label the Prometheus instance selects on (kube-prometheus-stack's convention).
The ServiceMonitor scrapes the dedicated metrics Service, which selects every backend pod: the stable and
canary Services are re-pointed by Argo Rollouts and would drop or double-count pods during a rollout.
"""

from webstack_contract import metric_names as m
from webstack_operator.api.cron import period_seconds
from webstack_operator.api.monitoring_types import ALERT_FOR_DEFAULT_KEY
from webstack_operator.builders import promql
from webstack_operator.builders.backend import SCRAPE_LABEL, metrics_service_name
from webstack_operator.builders.backup import schedule_name
from webstack_operator.builders.canary import HASH_LABEL
from webstack_operator.builders.checksums import short_hash
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.dashboard import build_dashboard, dashboard_json
from webstack_operator.builders.metadata import object_meta
from webstack_operator.builders.postgres import statefulset_name
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

GRAFANA_DASHBOARD_LABEL = "grafana_dashboard"
ALERT_WINDOW = "5m"
CACHE_WINDOW = "30m"
# A failed backup stays visible in velero_backup_failure_total's increase for one schedule period, at least.
MIN_FAILURE_WINDOW_SECONDS = 600
RUNBOOKS_URL = "https://github.com/webstack-dev/webstack/blob/main/docs/ops/runbooks.md"


def _release(ctx: StackContext) -> dict[str, str]:
    return {"release": ctx.spec.monitoring.release}


def _matchers(ctx: StackContext) -> dict[str, str]:
    return {"namespace": ctx.namespace, "job": metrics_service_name(ctx)}


def service_monitor(ctx: StackContext) -> JSON:
    """Scrape `/metrics` of every backend pod, keeping the Rollout's pod hash as a label for analysis."""
    spec: JSON = {
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
) -> JSON:
    return {
        "alert": name,
        "expr": expr,
        "for": alert_for(ctx, name, duration),
        "labels": {"severity": severity, "webstack": ctx.name},
        "annotations": {"summary": summary, "description": description, "runbook_url": runbook_url(name)},
    }


def alert_for(ctx: StackContext, name: str, default: str) -> str:
    """The rule's `for:`: `monitoring.alertFor[name]`, else `alertFor.default`, else the alert's own."""
    overrides = ctx.spec.monitoring.alert_for or {}
    return overrides.get(name, overrides.get(ALERT_FOR_DEFAULT_KEY, default))


def runbook_url(alert: str) -> str:
    """The alert's section in docs/ops/runbooks.md (each alert has a heading named after it)."""
    return f"{RUNBOOKS_URL}#{alert.lower()}"


def backup_period_seconds(ctx: StackContext) -> int:
    """The longest gap between two runs of the stack's backup schedule."""
    return period_seconds(ctx.spec.backup.schedule)


def _api_alerts(ctx: StackContext, stack: str) -> list[JSON]:
    thresholds = ctx.spec.monitoring.thresholds
    matchers = _matchers(ctx)
    return [
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


def _postgres_alerts(ctx: StackContext, stack: str) -> list[JSON]:
    rules = [
        _alert(
            "WebStackPostgresUnreachable",
            f"{promql.db_unavailable_rate(_matchers(ctx), ALERT_WINDOW)} > 0",
            "5m",
            "critical",
            f"{stack}: the users API cannot reach Postgres",
            "The API answers 503 for {{ $value | humanize }} operations per second because Postgres is "
            f"unreachable ({m.DB_UNAVAILABLE_TOTAL}, readiness probes included; {ALERT_WINDOW} window).",
            ctx,
        )
    ]
    if ctx.database_managed:
        statefulset = {"namespace": ctx.namespace, "statefulset": statefulset_name(ctx)}
        rules.append(
            _alert(
                "WebStackPostgresNotReady",
                promql.statefulset_not_ready(statefulset),
                "5m",
                "critical",
                f"{stack}: the Postgres StatefulSet {statefulset_name(ctx)} is not ready",
                "Fewer Postgres pods are ready than desired (kube-state-metrics "
                "kube_statefulset_status_replicas_ready < kube_statefulset_replicas).",
                ctx,
            )
        )
    return rules


def _cache_alerts(ctx: StackContext, stack: str) -> list[JSON]:
    if ctx.spec.cache.mode == "Disabled":
        return []
    thresholds = ctx.spec.monitoring.thresholds
    matchers = _matchers(ctx)
    hit_ratio = promql.cache_hit_ratio(matchers, CACHE_WINDOW)
    bypass_ratio = promql.cache_bypass_ratio(matchers, ALERT_WINDOW)
    errors = promql.cache_error_rate(matchers, ALERT_WINDOW)
    hit_ratio_alert = [
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
    ]
    return [
        *(hit_ratio_alert if thresholds.min_cache_hit_ratio > 0 else []),
        _alert(
            "WebStackRedisUnreachable",
            f"(({bypass_ratio}) > {thresholds.max_cache_bypass_ratio}) or (({errors}) > 0)",
            "5m",
            "warning",
            f"{stack}: the users API cannot use Redis",
            f"Redis calls fail ({m.CACHE_ERRORS_TOTAL}) or more than "
            f"{thresholds.max_cache_bypass_ratio:.0%} of cached reads bypass Redis ({m.CACHE_BYPASS_TOTAL}: "
            "circuit open). The API still serves from Postgres, slower.",
            ctx,
        ),
    ]


def _backup_alerts(ctx: StackContext, stack: str) -> list[JSON]:
    if not ctx.backup_enabled:
        return []
    schedule = {"schedule": schedule_name(ctx)}
    period = backup_period_seconds(ctx)
    return [
        _alert(
            "WebStackBackupFailing",
            promql.backup_failing(schedule, f"{max(period, MIN_FAILURE_WINDOW_SECONDS)}s"),
            "5m",
            "warning",
            f"{stack}: the last Velero backup of schedule {schedule['schedule']} failed",
            "velero_backup_last_status is 0 or velero_backup_failure_total grew within one schedule "
            f"period ({period}s).",
            ctx,
        ),
        _alert(
            "WebStackBackupMissing",
            promql.backup_missing(schedule, 2 * period, _matchers(ctx)),
            "10m",
            "critical",
            f"{stack}: no successful backup within twice the schedule's period",
            f"velero_backup_last_successful_timestamp of schedule {schedule['schedule']} is older than "
            f"{2 * period}s (twice the longest gap of `{ctx.spec.backup.schedule}`), or absent that long "
            "while the stack was there.",
            ctx,
        ),
    ]


def alert_rules(ctx: StackContext) -> list[JSON]:
    """The API (errors, latency, down), Postgres, the cache, and backups when they are on."""
    stack = f"{ctx.namespace}/{ctx.name}"
    return [
        *_api_alerts(ctx, stack),
        *_postgres_alerts(ctx, stack),
        *_cache_alerts(ctx, stack),
        *_backup_alerts(ctx, stack),
    ]


def prometheus_rule(ctx: StackContext) -> JSON:
    """The stack's alerts."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": object_meta(ctx, ctx.child("alerts"), labels.MONITORING, extra_labels=_release(ctx)),
        "spec": {"groups": [{"name": f"webstack.{ctx.namespace}.{ctx.name}", "rules": alert_rules(ctx)}]},
    }


def dashboard_config_map(ctx: StackContext) -> JSON:
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


def monitoring_objects(ctx: StackContext) -> list[JSON]:
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

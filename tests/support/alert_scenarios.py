"""The scenarios of every alert of a rendered PrometheusRule: the series, whether it fires, what it shows.

For each alert a scenario says what the metrics look like, whether the alert must fire, and (when it fires)
the value its annotations show. Every number that the spec decides (thresholds, `for:`, the backup
schedule's period) is read from the stack's spec or from the rendered rule, never written here: a scenario
sits just past the threshold on the side it tests (midway between the threshold and the metric's bound),
so a rule whose comparison or threshold drifts from the spec fails. Expected annotations are the rule's own
templates expanded with the scenario's value (Prometheus's humanize functions, ported in
tests/support/prometheus_templates.py), so a wrong value fails too. The promtool unit-test files written
from them are tests/support/promtool_tests.py's.
"""

from __future__ import annotations

from typing import Any

from tests.support.alert_series import (
    MINUTE,
    SAMPLES,
    Scenario,
    Series,
    beyond,
    level,
    rising,
    within,
)
from tests.support.promtool_tests import unit_test_files

from users_api.metrics import LATENCY_BUCKETS
from webstack_contract import metric_names as m
from webstack_operator.api.cron import period_seconds
from webstack_operator.builders.backend import metrics_service_name
from webstack_operator.builders.backup import schedule_name
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.operator_alerts import (
    DRILL_GRACE_SECONDS,
    MAX_ERROR_RATIO,
    OPERATOR_JOB,
    STALE_RECONCILE_SECONDS,
)
from webstack_operator.builders.postgres import statefulset_name
from webstack_operator.telemetry import metric_names as om

# Scenario and unit_test_files are imported from here too (tests/integration/operator/test_alert_rules.py).
__all__ = [
    "Scenario",
    "Series",
    "backend_down",
    "backups",
    "cache_hit_ratio",
    "error_rate",
    "latency",
    "operator_scenarios",
    "postgres",
    "redis_unreachable",
    "stack_scenarios",
    "unit_test_files",
]

# ---------------------------------------------------------------------------------------------------------
# Scenarios of a stack's alerts
# ---------------------------------------------------------------------------------------------------------


def _api_labels(ctx: StackContext) -> dict[str, str]:
    return {"namespace": ctx.namespace, "job": metrics_service_name(ctx)}


def _requests(ctx: StackContext, error_share: float, per_second: float = 10.0) -> list[Series]:
    api = {**_api_labels(ctx), m.LABEL_METHOD: "GET", m.LABEL_ROUTE: "/api/users"}
    series = [rising(m.HTTP_REQUESTS_TOTAL, {**api, m.LABEL_STATUS: "200"}, per_second * (1 - error_share))]
    if error_share:
        series.append(rising(m.HTTP_REQUESTS_TOTAL, {**api, m.LABEL_STATUS: "500"}, per_second * error_share))
    # Probes are not API traffic: a readiness probe failing hard must not count as API errors.
    probe = {**_api_labels(ctx), m.LABEL_METHOD: "GET", m.LABEL_ROUTE: "/readyz", m.LABEL_STATUS: "503"}
    series.append(rising(m.HTTP_REQUESTS_TOTAL, probe, 100.0))
    return series


def error_rate(ctx: StackContext) -> list[Scenario]:
    limit = ctx.spec.monitoring.thresholds.error_rate
    name = "WebStackHighErrorRate"
    share = beyond(limit, 1.0)
    return [
        Scenario(name, "errors below the threshold", False, _requests(ctx, within(limit))),
        Scenario(name, "errors above the threshold", True, _requests(ctx, share), share),
    ]


def _latency(ctx: StackContext, bucket: int) -> list[Series]:
    """Every request takes a time inside bucket `bucket`: (LATENCY_BUCKETS[bucket-1], [bucket]]."""
    api = {**_api_labels(ctx), m.LABEL_METHOD: "GET", m.LABEL_ROUTE: "/api/users"}
    name = f"{m.HTTP_REQUEST_DURATION_SECONDS}_bucket"
    bounds = [*[f"{b:g}" for b in LATENCY_BUCKETS], "+Inf"]
    return [
        rising(name, {**api, "le": le}, 10.0 if index >= bucket else 0.0) for index, le in enumerate(bounds)
    ]


def _p95(bucket: int) -> float:
    """histogram_quantile(0.95) when every observation is in one bucket: linear inside a finite one; in
    +Inf (index len(LATENCY_BUCKETS)), the largest finite bound."""
    if bucket == len(LATENCY_BUCKETS):
        return LATENCY_BUCKETS[-1]
    low = LATENCY_BUCKETS[bucket - 1] if bucket else 0.0
    return low + (LATENCY_BUCKETS[bucket] - low) * 0.95


def latency(ctx: StackContext) -> list[Scenario]:
    limit = ctx.spec.monitoring.thresholds.p95_latency_seconds
    name = "WebStackHighLatency"
    scenarios = []
    quiet = [i for i, upper in enumerate(LATENCY_BUCKETS) if upper <= limit]
    if quiet:
        scenarios.append(Scenario(name, "p95 under the threshold", False, _latency(ctx, quiet[-1])))
    slow = [i for i in range(len(LATENCY_BUCKETS) + 1) if _p95(i) > limit]
    if slow:
        scenarios.append(
            Scenario(name, "p95 over the threshold", True, _latency(ctx, slow[0]), _p95(slow[0]))
        )
    return scenarios


def backend_down(ctx: StackContext) -> list[Scenario]:
    name, labels = "WebStackBackendDown", _api_labels(ctx)
    return [
        Scenario(name, "targets up", False, [level("up", {**labels, "instance": "10.0.0.1:8000"}, 1)]),
        Scenario(
            name, "every target down", True, [level("up", {**labels, "instance": "10.0.0.1:8000"}, 0)], 0
        ),
        # absent(): the selector's equality matchers become the alert's labels.
        Scenario(name, "no target at all", True, [level("up", {"job": "other"}, 1)], 1, labels=labels),
    ]


def _cache(ctx: StackContext, *, hits: float, misses: float, bypass: float, errors: float) -> list[Series]:
    labels = {**_api_labels(ctx), m.LABEL_ROUTE: "/api/users/{user_id}"}
    return [
        rising(m.CACHE_HITS_TOTAL, {**labels, m.LABEL_LAYER: m.LAYER_REDIS}, hits),
        rising(m.CACHE_MISSES_TOTAL, labels, misses),
        rising(m.CACHE_BYPASS_TOTAL, labels, bypass),
        rising(m.CACHE_ERRORS_TOTAL, {**_api_labels(ctx), "operation": "get"}, errors),
    ]


def cache_hit_ratio(ctx: StackContext) -> list[Scenario]:
    limit = ctx.spec.monitoring.thresholds.min_cache_hit_ratio
    name, warmup = "WebStackLowCacheHitRatio", 35 * MINUTE  # its window is 30m
    if limit == 0:
        return []  # the alert is off
    healthy, poor = beyond(limit, 1.0), within(limit)
    return [
        Scenario(
            name,
            "hit ratio above the minimum",
            False,
            _cache(ctx, hits=healthy * 10, misses=(1 - healthy) * 10, bypass=0, errors=0),
            warmup_seconds=warmup,
        ),
        Scenario(
            name,
            "hit ratio below the minimum",
            True,
            _cache(ctx, hits=poor * 10, misses=(1 - poor) * 10, bypass=0, errors=0),
            poor,
            warmup_seconds=warmup,
        ),
    ]


def redis_unreachable(ctx: StackContext) -> list[Scenario]:
    limit = ctx.spec.monitoring.thresholds.max_cache_bypass_ratio
    name, quiet = "WebStackRedisUnreachable", within(limit)
    scenarios = [
        Scenario(
            name,
            "few bypasses, no errors",
            False,
            _cache(ctx, hits=(1 - quiet) * 10, misses=0, bypass=quiet * 10, errors=0),
        ),
        Scenario(
            name,
            "Redis calls failing",
            True,
            _cache(ctx, hits=10, misses=0, bypass=0, errors=0.5),
            0.5,
        ),
    ]
    share = beyond(limit, 1.0)
    scenarios.append(
        Scenario(
            name,
            "most reads bypass Redis (circuit open)",
            True,
            _cache(ctx, hits=(1 - share) * 10, misses=0, bypass=share * 10, errors=0),
            share,
        )
    )
    return scenarios


def postgres(ctx: StackContext) -> list[Scenario]:
    name, labels = "WebStackPostgresUnreachable", {**_api_labels(ctx), "operation": "ping"}
    scenarios = [
        Scenario(name, "Postgres answers", False, [rising(m.DB_UNAVAILABLE_TOTAL, labels, 0)]),
        Scenario(name, "the API gets no connection", True, [rising(m.DB_UNAVAILABLE_TOTAL, labels, 2)], 2),
    ]
    if ctx.database_managed:
        name = "WebStackPostgresNotReady"
        ksm = {"job": "kube-state-metrics", "namespace": ctx.namespace, "statefulset": statefulset_name(ctx)}

        def statefulset(ready: int) -> list[Series]:
            return [
                level("kube_statefulset_replicas", ksm, 1),
                level("kube_statefulset_status_replicas_ready", ksm, ready),
            ]

        result = {"namespace": ksm["namespace"], "statefulset": ksm["statefulset"]}
        scenarios += [
            Scenario(name, "the pod is ready", False, statefulset(1)),
            Scenario(name, "the pod is not ready", True, statefulset(0), 0, labels=result),
        ]
    return scenarios


def backups(ctx: StackContext) -> list[Scenario]:
    """Velero's metrics on a time scale of the schedule's period (read from the spec's cron)."""
    period = period_seconds(ctx.spec.backup.schedule)
    step = max(MINUTE, period // 20)  # about forty samples span two periods
    samples = 4 * period // step + 40
    schedule = {"job": "velero", "schedule": schedule_name(ctx)}
    ok = level("velero_backup_last_status", schedule, 1, samples)
    no_failures = rising("velero_backup_failure_total", schedule, 0, samples)
    # Velero sets the gauge to the time of each success: one per period.
    successes = " ".join(str((i * step // period) * period) for i in range(samples + 1))
    fresh = Series("velero_backup_last_successful_timestamp", schedule, successes)
    stale = level("velero_backup_last_successful_timestamp", schedule, 0, samples)
    one_failure = Series(
        "velero_backup_failure_total", schedule, f"0x{samples // 2} " + " ".join(["1"] * (samples // 2))
    )
    timing: dict[str, Any] = {"interval_seconds": step, "warmup_seconds": 0}
    missing, failing = "WebStackBackupMissing", "WebStackBackupFailing"
    # The stack's backend scraped all along: it exists (WebStackBackupMissing waits for a stack that has
    # been there for twice the period).
    stack = level("up", {**_api_labels(ctx), "instance": "10.0.0.1:8000"}, 1, samples)
    old = {**timing, "warmup_seconds": 2 * period + step}
    return [
        Scenario(failing, "every backup succeeds", False, [ok, no_failures, fresh], **timing),
        Scenario(
            failing,
            "the last backup failed",
            True,
            [level("velero_backup_last_status", schedule, 0, samples), no_failures, fresh],
            **timing,
        ),
        Scenario(
            failing,
            "a backup failed within a period",
            True,
            [ok, one_failure, fresh],
            **{**timing, "warmup_seconds": (samples // 2) * step},
        ),
        Scenario(
            missing,
            "a success each period",
            False,
            [ok, no_failures, fresh, stack],
            **{**timing, "warmup_seconds": 4 * period},
        ),
        Scenario(missing, "no success for twice the period", True, [ok, no_failures, stale, stack], **old),
        Scenario(missing, "never a success, the stack there for twice the period", True, [stack], **old),
        # A new stack: its first scheduled backup is not due yet (the demo's stack, any stack just created).
        Scenario(missing, "never a success, the stack new", False, [ok, no_failures, stack], **timing),
    ]


def stack_scenarios(ctx: StackContext) -> list[Scenario]:
    return [
        *error_rate(ctx),
        *latency(ctx),
        *backend_down(ctx),
        *postgres(ctx),
        *cache_hit_ratio(ctx),
        *redis_unreachable(ctx),
        *backups(ctx),
    ]


# ---------------------------------------------------------------------------------------------------------
# The operator's alerts
# ---------------------------------------------------------------------------------------------------------


def operator_scenarios() -> list[Scenario]:
    job = {"job": OPERATOR_JOB, "instance": "10.0.0.9:8081"}

    def stacks(failed: int) -> list[Series]:
        return [
            level(om.STACKS, {**job, om.LABEL_PHASE: "Ready"}, 3),
            level(om.STACKS, {**job, "phase": "Failed"}, failed),
        ]

    def reconciles(error_share: float) -> list[Series]:
        result = om.LABEL_RESULT
        return [
            rising(om.RECONCILE_TOTAL, {**job, result: "success"}, 1 - error_share),
            rising(om.RECONCILE_TOTAL, {**job, result: om.RESULT_ERROR}, error_share),
        ]

    stack = {om.LABEL_STACK_NAMESPACE: "shop", om.LABEL_STACK: "shop"}

    def drill(success: int, period: int) -> list[Series]:
        """The last drill ended at time 0 (promtool's clock starts there)."""
        return [
            level(om.DRILL_SUCCESS, {**job, **stack}, success),
            level(om.DRILL_TIMESTAMP_SECONDS, {**job, **stack}, 0),
            level(om.DRILL_PERIOD_SECONDS, {**job, **stack}, period),
        ]

    every_minute = Series(om.LAST_RECONCILE_TIMESTAMP_SECONDS, job, f"0+{MINUTE}x{SAMPLES}")
    never = level(om.LAST_RECONCILE_TIMESTAMP_SECONDS, job, 0)
    tracked = level(om.CACHE_STACKS, job, 2)
    stale = STALE_RECONCILE_SECONDS + MINUTE
    failing = beyond(MAX_ERROR_RATIO, 1.0)
    return [
        Scenario("WebStackOperatorStacksFailed", "no stack failed", False, stacks(0)),
        Scenario("WebStackOperatorStacksFailed", "two stacks failed", True, stacks(2), 2),
        Scenario("WebStackOperatorReconcileErrors", "few errors", False, reconciles(within(MAX_ERROR_RATIO))),
        Scenario("WebStackOperatorReconcileErrors", "many errors", True, reconciles(failing), failing),
        Scenario(
            "WebStackBackupDrillFailing", "the last drill passed, within its period", False, drill(1, 86400)
        ),
        Scenario(
            "WebStackBackupDrillFailing", "the last drill failed", True, drill(0, 86400), 0, labels=stack
        ),
        Scenario(
            "WebStackBackupDrillFailing",
            "the last drill is older than its period and the grace",
            True,
            drill(1, MINUTE),
            None,
            labels=stack,
            warmup_seconds=DRILL_GRACE_SECONDS + 2 * MINUTE,
        ),
        Scenario("WebStackOperatorNotReconciling", "reconciling", False, [every_minute, tracked]),
        Scenario(
            "WebStackOperatorNotReconciling",
            "nothing to reconcile",
            False,
            [never, level(om.CACHE_STACKS, job, 0)],
            warmup_seconds=stale,
        ),
        Scenario("WebStackOperatorNotReconciling", "stuck", True, [never, tracked], 1, warmup_seconds=stale),
        Scenario(
            "WebStackOperatorNotReconciling",
            "not scraped",
            True,
            [level("up", {"job": "other"}, 1)],
            1,
            labels={"job": OPERATOR_JOB},
        ),
    ]

"""Synthetic series for every alert of a rendered PrometheusRule, and the promtool unit-test file for them.

For each alert a scenario says what the metrics look like, whether the alert must fire, and (when it fires)
the value its annotations show. Every number that the spec decides (thresholds, `for:`, the backup
schedule's period) is read from the stack's spec or from the rendered rule, never written here: a scenario
sits just past the threshold on the side it tests (midway between the threshold and the metric's bound),
so a rule whose comparison or threshold drifts from the spec fails. Expected annotations are the rule's own
templates expanded with the scenario's value (Prometheus's humanize functions, ported below), so a wrong
value fails too.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from users_api.metrics import LATENCY_BUCKETS
from webstack_contract import metric_names as m
from webstack_operator.api.cron import period_seconds
from webstack_operator.builders.backend import metrics_service_name
from webstack_operator.builders.backup import schedule_name
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.operator_alerts import (
    MAX_ERROR_RATIO,
    OPERATOR_JOB,
    STALE_RECONCILE_SECONDS,
)
from webstack_operator.builders.postgres import statefulset_name
from webstack_operator.telemetry import metric_names as om

MINUTE = 60


@dataclass(frozen=True)
class Series:
    name: str
    labels: Mapping[str, str]
    values: str  # promtool's expanding notation, e.g. `0+60x30` or `1x30`

    def as_input(self) -> dict[str, str]:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return {"series": f"{self.name}{{{inner}}}", "values": self.values}


@dataclass(frozen=True)
class Scenario:
    alert: str
    title: str
    fires: bool
    series: list[Series]
    value: float | None = None  # what `$value` is when it fires (for the annotations)
    labels: Mapping[str, str] = field(default_factory=dict)  # labels the expression's result carries
    warmup_seconds: int = 10 * MINUTE  # before `for:` starts counting: the rule's rate windows fill
    interval_seconds: int = MINUTE


# ---------------------------------------------------------------------------------------------------------
# Prometheus's template functions (template/template.go), for the expected annotations.
# ---------------------------------------------------------------------------------------------------------


def _g4(value: float) -> str:
    return f"{value:.4g}"


def humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    prefix = ""
    if abs(value) >= 1:
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"]:
            if abs(value) < 1000:
                break
            prefix, value = p, value / 1000
    else:
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"]:
            if abs(value) >= 1:
                break
            prefix, value = p, value * 1000
    return f"{_g4(value)}{prefix}"


def humanize_percentage(value: float) -> str:
    return f"{_g4(value * 100)}%"


def humanize_duration(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    if value == 0:
        return f"{_g4(value)}s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        whole = int(abs(value))
        seconds, minutes, hours, days = whole % 60, whole // 60 % 60, whole // 3600 % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(abs(value))}s"
    prefix = ""
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"]:
        if abs(value) >= 1:
            break
        prefix = p
        value *= 1000
    return f"{_g4(value)}{prefix}s"


_TEMPLATE = re.compile(r"\{\{\s*\$value\s*(?:\|\s*(\w+)\s*)?\}\}")
_FUNCTIONS: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
}


def expand(template: str, value: float | None) -> str:
    """The annotation text Prometheus renders for `$value` (the only template variable the rules use)."""

    def one(match: re.Match[str]) -> str:
        assert value is not None, f"{template!r} shows $value: the scenario must say what it is"
        function = match.group(1)
        return _FUNCTIONS[function](value) if function else f"{value:g}"

    return _TEMPLATE.sub(one, template)


# ---------------------------------------------------------------------------------------------------------
# Series builders
# ---------------------------------------------------------------------------------------------------------

SAMPLES = 90  # one and a half hours of one-minute samples: past every window plus the longest default `for:`


def rising(name: str, labels: Mapping[str, str], per_second: float, samples: int = SAMPLES) -> Series:
    """A counter growing at `per_second`."""
    return Series(name, labels, f"0+{per_second * MINUTE:.12g}x{samples}")


def level(name: str, labels: Mapping[str, str], value: float, samples: int = SAMPLES) -> Series:
    return Series(name, labels, f"{value:.12g}x{samples}")


def beyond(threshold: float, bound: float) -> float:
    """Midway from a threshold to the metric's bound: past the threshold, inside what the metric can be."""
    return (threshold + bound) / 2


def within(threshold: float) -> float:
    """Half the threshold: well on the quiet side of an upper limit."""
    return threshold / 2


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
            [ok, no_failures, fresh],
            **{**timing, "warmup_seconds": 4 * period},
        ),
        Scenario(
            missing,
            "no success for twice the period",
            True,
            [ok, no_failures, stale],
            **{**timing, "warmup_seconds": 2 * period + step},
        ),
        Scenario(missing, "never a success", True, [ok, no_failures], **timing),
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


# ---------------------------------------------------------------------------------------------------------
# The promtool unit-test files
# ---------------------------------------------------------------------------------------------------------

_DURATION = re.compile(r"^([0-9]+)(ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> float:
    match = _DURATION.match(duration)
    assert match, f"not a Prometheus duration: {duration!r}"
    return int(match.group(1)) * _UNIT[match.group(2)]


def unit_test_files(
    rules_file: str, rules: Mapping[str, Mapping[str, Any]], scenarios: list[Scenario]
) -> list[dict[str, Any]]:
    """One promtool test file per sampling interval (it is a per-file setting), each a list of groups."""
    by_interval: dict[int, list[dict[str, Any]]] = {}
    for scenario in scenarios:
        rule = rules[scenario.alert]
        step = scenario.interval_seconds
        eval_seconds = scenario.warmup_seconds + seconds(rule.get("for", "0s")) + 2 * step
        eval_seconds = math.ceil(eval_seconds / step) * step
        expected: list[dict[str, Any]] = []
        if scenario.fires:
            expected.append(
                {
                    "exp_labels": {**rule.get("labels", {}), **scenario.labels},
                    "exp_annotations": {
                        key: expand(text, scenario.value) for key, text in rule.get("annotations", {}).items()
                    },
                }
            )
        by_interval.setdefault(step, []).append(
            {
                "name": f"{scenario.alert}: {scenario.title}",
                "interval": f"{step}s",
                "input_series": [s.as_input() for s in scenario.series],
                "alert_rule_test": [
                    {
                        "eval_time": f"{int(eval_seconds)}s",
                        "alertname": scenario.alert,
                        "exp_alerts": expected,
                    }
                ],
            }
        )
    return [
        {"rule_files": [rules_file], "evaluation_interval": f"{step}s", "tests": groups}
        for step, groups in sorted(by_interval.items())
    ]

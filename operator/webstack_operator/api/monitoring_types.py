"""Monitoring: `MonitoringSpec` (ServiceMonitor, alerts, dashboard), the alerts' names and thresholds."""

from typing import Annotated

from pydantic import Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.model_base import ApiModel, optional_section
from webstack_operator.api.patterns import LABEL_VALUE_PATTERN, PROMETHEUS_DURATION_PATTERN

# The alerts of a stack's PrometheusRule (builders/monitoring.py renders exactly these), for `alertFor`.
STACK_ALERTS = (
    "WebStackHighErrorRate",
    "WebStackHighLatency",
    "WebStackBackendDown",
    "WebStackLowCacheHitRatio",
    "WebStackPostgresUnreachable",
    "WebStackPostgresNotReady",
    "WebStackRedisUnreachable",
    "WebStackBackupFailing",
    "WebStackBackupMissing",
)
ALERT_FOR_DEFAULT_KEY = "default"
# The largest finite bucket of users_api.metrics.LATENCY_BUCKETS (a unit test keeps them equal).
MAX_OBSERVABLE_LATENCY_SECONDS = 10.0
ALERT_FOR_UNKNOWN_KEY = "alertFor keys are `default` or an alert name: " + ", ".join(STACK_ALERTS)


class AlertThresholds(ApiModel):
    """When the PrometheusRule alerts fire."""

    error_rate: float = Field(default=0.05, gt=0, lt=1, description="Share of 5xx responses over 5 minutes.")
    p95_latency_seconds: float = Field(
        default=0.5,
        gt=0,
        lt=MAX_OBSERVABLE_LATENCY_SECONDS,
        description="95th-percentile latency; below 10s, the users API's largest latency bucket (a quantile "
        "above it cannot be computed, so such an alert could never fire).",
    )
    min_cache_hit_ratio: float = Field(
        default=0.5, ge=0, le=1, description="Lowest cache hit ratio over 30m; 0 turns the alert off."
    )
    max_cache_bypass_ratio: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="Share of cached reads that skipped Redis (circuit open) over 5 minutes above which "
        "Redis counts as unreachable.",
    )


class MonitoringSpec(ApiModel):
    """Prometheus Operator objects: a ServiceMonitor, alerts and a Grafana dashboard ConfigMap."""

    enabled: bool = Field(
        default=True, description="Render monitoring objects (skipped without the Prometheus Operator)."
    )
    release: str = Field(
        default="kube-prometheus-stack",
        pattern=LABEL_VALUE_PATTERN,
        max_length=63,
        description="Value of the `release` label the Prometheus instance selects on.",
    )
    scrape_interval: str = Field(
        default="30s", pattern=PROMETHEUS_DURATION_PATTERN, max_length=16, description="Scrape interval."
    )
    alerts: bool = Field(default=True, description="Render the PrometheusRule.")
    dashboard: bool = Field(default=True, description="Render the Grafana dashboard ConfigMap.")
    thresholds: AlertThresholds = optional_section(AlertThresholds, "Alert thresholds.")
    alert_for: dict[str, Annotated[str, Field(pattern=PROMETHEUS_DURATION_PATTERN, max_length=16)]] | None = (
        Field(
            default=None,
            max_length=len(STACK_ALERTS) + 1,
            description="How long a condition must hold before its alert fires (the rule's `for:`), by alert "
            "name, or `default` for every alert not named; e.g. `{default: 30s}` in a test. Unset: each "
            "alert's own duration.",
            json_schema_extra=cel_rules(
                cel(
                    "self.all(k, k in " + str([ALERT_FOR_DEFAULT_KEY, *STACK_ALERTS]) + ")",
                    ALERT_FOR_UNKNOWN_KEY,
                )
            ),
        )
    )

    @model_validator(mode="after")
    def _alert_for_names_alerts(self) -> "MonitoringSpec":
        known = {ALERT_FOR_DEFAULT_KEY, *STACK_ALERTS}
        if self.alert_for is not None and not set(self.alert_for) <= known:
            raise ValueError(ALERT_FOR_UNKNOWN_KEY)
        return self

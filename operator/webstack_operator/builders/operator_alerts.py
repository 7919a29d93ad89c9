"""The operator's own alerts: stacks in `Failed`, failing reconciles, no reconcile for too long, and restore
drills that failed or are overdue.

One PrometheusRule per cluster, not per stack: it ships in the operator-monitoring kustomize component
(`webstack-operator operator-alerts` writes it; a test fails when the file differs), beside the operator's
ServiceMonitor, so a cluster without the Prometheus Operator installs the operator without either. Built
from `metrics.py`'s names, as the stack alerts are built from the users API's.
"""

from webstack_operator.builders.promql import selector
from webstack_operator.config.run_options import DEFAULT_RESYNC_SECONDS
from webstack_operator.kube.jsondata import JSON
from webstack_operator.telemetry import metric_names

OPERATOR_JOB = metric_names.OPERATOR_JOB
RULE_NAME = "webstack-operator"
RULE_NAMESPACE = "webstack-system"
RUNBOOKS_URL = "https://github.com/webstack-dev/webstack/blob/main/docs/ops/runbooks.md"
ERROR_WINDOW = "15m"
MAX_ERROR_RATIO = 0.1
# Every stack is reconciled at least once per resync period: three missed in a row is "not reconciling".
STALE_RECONCILE_SECONDS = 3 * int(DEFAULT_RESYNC_SECONDS)
DURATIONS = {
    "WebStackOperatorStacksFailed": "15m",
    "WebStackOperatorReconcileErrors": "15m",
    "WebStackOperatorNotReconciling": "5m",
    "WebStackBackupDrillFailing": "5m",
}
# A drill is overdue an hour after its period: the time one may take to run (builders/drill.py's deadline).
DRILL_GRACE_SECONDS = 3600


def drill_failing_expr() -> str:
    """Per stack: its last restore drill failed, or ended longer ago than its period (plus the grace)."""
    job = selector({"job": OPERATOR_JOB})
    by = f"by ({metric_names.LABEL_STACK_NAMESPACE}, {metric_names.LABEL_STACK})"
    success = f"max {by} ({metric_names.DRILL_SUCCESS}{job})"
    ended = f"max {by} ({metric_names.DRILL_TIMESTAMP_SECONDS}{job})"
    period = f"max {by} ({metric_names.DRILL_PERIOD_SECONDS}{job})"
    return f"({success} == 0) or ((time() - {ended}) > ({period} + {DRILL_GRACE_SECONDS}))"


def operator_alert_rules(for_override: str | None = None) -> list[JSON]:
    """The rules; `for_override` replaces every `for:` (tests use short ones)."""
    job = selector({"job": OPERATOR_JOB})
    failed = selector({"job": OPERATOR_JOB, metric_names.LABEL_PHASE: metric_names.PHASE_FAILED})
    errors = selector({"job": OPERATOR_JOB, metric_names.LABEL_RESULT: metric_names.RESULT_ERROR})
    error_ratio = (
        f"sum(rate({metric_names.RECONCILE_TOTAL}{errors}[{ERROR_WINDOW}]))"
        f" / sum(rate({metric_names.RECONCILE_TOTAL}{job}[{ERROR_WINDOW}]))"
    )
    last = f"{metric_names.LAST_RECONCILE_TIMESTAMP_SECONDS}{job}"
    rules = [
        (
            "WebStackOperatorStacksFailed",
            f"max({metric_names.STACKS}{failed}) > 0",
            "warning",
            "{{ $value }} WebStack(s) in phase Failed",
            "Their spec is invalid or cannot be applied: `kubectl get ws -A` and the Ready condition's "
            "message say which field.",
        ),
        (
            "WebStackOperatorReconcileErrors",
            f"({error_ratio}) > {MAX_ERROR_RATIO}",
            "warning",
            f"More than {MAX_ERROR_RATIO:.0%} of WebStack reconciles fail",
            "{{ $value | humanizePercentage }} of reconciles ended in an error over "
            f"{ERROR_WINDOW} ({metric_names.RECONCILE_TOTAL}).",
        ),
        (
            "WebStackOperatorNotReconciling",
            f"((time() - max({last})) > {STALE_RECONCILE_SECONDS}"
            f" and on() (max({metric_names.CACHE_STACKS}{job}) > 0))"
            f" or absent({last})",
            "critical",
            "The WebStack operator has not reconciled for too long",
            f"No replica finished a reconcile in {STALE_RECONCILE_SECONDS}s (three resync periods) while "
            "stacks exist, or the operator's metrics are not scraped at all.",
        ),
        (
            "WebStackBackupDrillFailing",
            drill_failing_expr(),
            "critical",
            "A stack's last restore drill failed or is overdue (labels stack_namespace, stack)",
            "The newest dump could not be restored and checked, or no drill passed within "
            "backup.drill.period: status.backup.lastDrill says why (kubectl webstack drill NAME runs one).",
        ),
    ]
    return [
        {
            "alert": name,
            "expr": expr,
            "for": for_override or DURATIONS[name],
            "labels": {"severity": severity},
            "annotations": {
                "summary": summary,
                "description": description,
                "runbook_url": f"{RUNBOOKS_URL}#{name.lower()}",
            },
        }
        for name, expr, severity, summary, description in rules
    ]


def operator_prometheus_rule() -> JSON:
    """The PrometheusRule of deploy/components/operator-monitoring."""
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": RULE_NAME,
            "namespace": RULE_NAMESPACE,
            "labels": {
                "app.kubernetes.io/name": "webstack-operator",
                "app.kubernetes.io/part-of": "webstack",
                "release": "kube-prometheus-stack",
            },
        },
        "spec": {"groups": [{"name": "webstack-operator", "rules": operator_alert_rules()}]},
    }

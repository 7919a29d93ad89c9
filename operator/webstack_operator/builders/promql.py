"""PromQL over the users API's own metric names, shared by alerts, canary analysis and the dashboard.

Every expression is built from `webstack_contract.metric_names`, so a renamed metric breaks a unit test here
instead of silently breaking an alert in production. Request SLIs count only `/api/...` routes: probe and
scrape traffic would otherwise dilute error rates and latency.
"""

from collections.abc import Mapping

from webstack_contract import metric_names as m

API_ROUTES = "/api/.*"


def selector(matchers: Mapping[str, str], *extra: str) -> str:
    """`{a="x",b=~"y"}` from exact matchers (sorted, for stable output) and literal extra matchers."""
    parts = [f'{key}="{value}"' for key, value in sorted(matchers.items())]
    return "{" + ",".join([*parts, *extra]) + "}"


def _api(matchers: Mapping[str, str], *extra: str) -> str:
    return selector(matchers, f'{m.LABEL_ROUTE}=~"{API_ROUTES}"', *extra)


def request_rate(matchers: Mapping[str, str], window: str) -> str:
    """API requests per second."""
    return f"sum(rate({m.HTTP_REQUESTS_TOTAL}{_api(matchers)}[{window}]))"


def or_zero(expr: str) -> str:
    """`expr`, or 0 when it has no series: a counter of failures has a series only after the first failure,
    and a dashboard should show a healthy stack's 0, not "No data" (which also looks like a broken query)."""
    return f"({expr}) or vector(0)"


def error_ratio(matchers: Mapping[str, str], window: str, *, zero_without_errors: bool = False) -> str:
    """Share of API responses that are 5xx (0..1; NaN without traffic). Without a 5xx series yet, nothing,
    or 0 with `zero_without_errors` (for the dashboard; an alert needs no series to stay silent)."""
    server_errors = m.LABEL_STATUS + '=~"5.."'
    errors = f"sum(rate({m.HTTP_REQUESTS_TOTAL}{_api(matchers, server_errors)}[{window}]))"
    if zero_without_errors:
        errors = f"({or_zero(errors)})"
    return f"{errors} / {request_rate(matchers, window)}"


def success_ratio(matchers: Mapping[str, str], window: str) -> str:
    """Share of API responses that are not 5xx (0..1; nothing or NaN without traffic). A version that
    answers only 5xx has no series of successes at all: they count as 0, so its ratio is 0 (a canary
    analysis fails it) rather than nothing (Inconclusive, which would only pause the rollout)."""
    not_server_errors = m.LABEL_STATUS + '!~"5.."'
    ok = f"sum(rate({m.HTTP_REQUESTS_TOTAL}{_api(matchers, not_server_errors)}[{window}]))"
    return f"({or_zero(ok)}) / {request_rate(matchers, window)}"


def latency_quantile(quantile: float, matchers: Mapping[str, str], window: str) -> str:
    """A latency quantile of API requests, in seconds, from the histogram buckets."""
    buckets = f"{m.HTTP_REQUEST_DURATION_SECONDS}_bucket{_api(matchers)}"
    return f"histogram_quantile({quantile}, sum by (le) (rate({buckets}[{window}])))"


def cache_hit_ratio(matchers: Mapping[str, str], window: str) -> str:
    """Share of cached reads answered from Redis."""
    sel = selector(matchers)
    hits = f"sum(rate({m.CACHE_HITS_TOTAL}{sel}[{window}]))"
    misses = f"sum(rate({m.CACHE_MISSES_TOTAL}{sel}[{window}]))"
    return f"{hits} / ({hits} + {misses})"


def targets_up(matchers: Mapping[str, str]) -> str:
    """Backend pods Prometheus can scrape (0 or absent: the backend is down)."""
    return f"sum(up{selector(matchers)})"


def cache_bypass_ratio(matchers: Mapping[str, str], window: str) -> str:
    """Share of cached reads that skipped Redis (its circuit open): near 1 while Redis is unreachable."""
    sel = selector(matchers)
    bypassed = f"sum(rate({m.CACHE_BYPASS_TOTAL}{sel}[{window}]))"
    hits = f"sum(rate({m.CACHE_HITS_TOTAL}{sel}[{window}]))"
    misses = f"sum(rate({m.CACHE_MISSES_TOTAL}{sel}[{window}]))"
    return f"{bypassed} / ({bypassed} + {hits} + {misses})"


def cache_error_rate(matchers: Mapping[str, str], window: str) -> str:
    """Failed Redis calls per second."""
    return f"sum(rate({m.CACHE_ERRORS_TOTAL}{selector(matchers)}[{window}]))"


def db_unavailable_rate(matchers: Mapping[str, str], window: str) -> str:
    """Operations per second that failed because Postgres was unreachable (readiness pings included)."""
    return f"sum(rate({m.DB_UNAVAILABLE_TOTAL}{selector(matchers)}[{window}]))"


def statefulset_not_ready(matchers: Mapping[str, str]) -> str:
    """Fewer ready replicas than desired, from kube-state-metrics (`max`: HA replicas of it agree)."""
    by = "max by (namespace, statefulset) "
    ready = f"{by}(kube_statefulset_status_replicas_ready{selector(matchers)})"
    desired = f"{by}(kube_statefulset_replicas{selector(matchers)})"
    return f"{ready} < {desired}"


def backup_failing(schedule: Mapping[str, str], window: str) -> str:
    """Velero's last backup of the schedule failed, or one failed within `window` (Velero's metrics)."""
    sel = selector(schedule)
    return (
        f"(max(velero_backup_last_status{sel}) == 0)"
        f" or (sum(increase(velero_backup_failure_total{sel}[{window}])) > 0)"
    )


def backup_missing(schedule: Mapping[str, str], limit_seconds: int, stack: Mapping[str, str]) -> str:
    """No successful backup of the schedule for `limit_seconds`: the last success is older, or Prometheus
    saw none that long (Velero sets the gauge only after a success of its running process) although the
    stack (its scrape targets, `stack`) was there already `limit_seconds` ago: a stack younger than that
    has had no scheduled backup due yet, and must not page anyone."""
    last = f"velero_backup_last_successful_timestamp{selector(schedule)}"
    existed = f"count(up{selector(stack)} offset {limit_seconds}s)"
    return (
        f"((time() - max({last})) > {limit_seconds}) "
        f"or (max(absent_over_time({last}[{limit_seconds}s])) and on() {existed})"
    )

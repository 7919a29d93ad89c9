"""PromQL helpers: stable selectors, /api-only SLIs."""

from __future__ import annotations

from webstack_contract import metric_names
from webstack_operator.builders import promql

M = {"namespace": "ns", "job": "shop-backend-metrics"}


def test_selector_is_sorted_and_literal_extras_follow() -> None:
    assert promql.selector({"b": "2", "a": "1"}, 'c=~"x"') == '{a="1",b="2",c=~"x"}'


def test_error_ratio_counts_only_api_5xx() -> None:
    expr = promql.error_ratio(M, "5m")
    assert expr == (
        f'sum(rate({metric_names.HTTP_REQUESTS_TOTAL}{{job="shop-backend-metrics",namespace="ns",route=~"/api/.*",'
        f'status=~"5.."}}[5m])) / sum(rate({metric_names.HTTP_REQUESTS_TOTAL}{{job="shop-backend-metrics",'
        f'namespace="ns",route=~"/api/.*"}}[5m]))'
    )


def test_latency_quantile_aggregates_by_le() -> None:
    expr = promql.latency_quantile(0.95, M, "2m")
    assert expr.startswith("histogram_quantile(0.95, sum by (le) (rate(")
    assert f"{metric_names.HTTP_REQUEST_DURATION_SECONDS}_bucket" in expr


def test_cache_hit_ratio() -> None:
    expr = promql.cache_hit_ratio(M, "30m")
    assert metric_names.CACHE_HITS_TOTAL in expr and metric_names.CACHE_MISSES_TOTAL in expr


def test_the_dashboards_error_ratio_is_zero_before_the_first_error() -> None:
    """No 5xx series yet: the dashboard shows 0; the alert's ratio is unchanged (it needs no series)."""
    zeroed = promql.error_ratio(M, "5m", zero_without_errors=True)
    numerator, _, denominator = zeroed.partition(" / ")
    assert numerator.endswith(" or vector(0))") and numerator.startswith("((sum(rate(")
    assert denominator == promql.request_rate(M, "5m")
    assert "vector" not in promql.error_ratio(M, "5m")


def test_the_success_ratio_counts_no_success_as_zero_but_no_traffic_as_nothing() -> None:
    """A canary answering only 5xx has no series of successes: 0 (Failed), not nothing (Inconclusive)."""
    numerator, _, denominator = promql.success_ratio(M, "2m").partition(" / ")
    assert numerator == (
        f'((sum(rate({metric_names.HTTP_REQUESTS_TOTAL}{{job="shop-backend-metrics",namespace="ns",'
        f'route=~"/api/.*",status!~"5.."}}[2m]))) or vector(0))'
    )
    assert denominator == promql.request_rate(M, "2m")  # no traffic: no series, so no ratio

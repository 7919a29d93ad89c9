"""tests/support/dashboard.py: panel queries as Grafana sends them."""

from __future__ import annotations

import pytest
from tests.support.dashboard import panel_queries, rate_interval

from webstack_operator.builders.dashboard import build_dashboard


def test_variables_take_their_current_values_and_the_rate_interval() -> None:
    board = build_dashboard(namespace="team-a", job="shop-backend-metrics")
    queries = panel_queries(board, rate_window="2m")
    assert queries and all("$" not in q.expr for q in queries)
    request_rate = next(q for q in queries if q.panel == "Request rate by status")
    assert 'namespace="team-a"' in request_rate.expr and 'job="shop-backend-metrics"' in request_rate.expr
    assert "[2m]" in request_rate.expr
    assert {"Reconciles by result", "Stacks by phase"} <= {q.panel for q in queries}  # the row's panels


def test_a_variable_without_a_value_is_an_error() -> None:
    with pytest.raises(AssertionError, match=r"\$namespace"):
        panel_queries(build_dashboard(), rate_window="2m")


def test_rate_interval_is_four_of_the_longest_scrape_interval() -> None:
    assert rate_interval(["5s", "30s"]) == "120s"
    assert rate_interval(["1m30s"]) == "360s"

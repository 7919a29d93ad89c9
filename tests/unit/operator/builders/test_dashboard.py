"""The Grafana dashboard: one source (build_dashboard), committed JSON equal to it, real metric names."""

from __future__ import annotations

import json
from pathlib import Path

from webstack_contract import metric_names
from webstack_operator.builders.dashboard import build_dashboard, dashboard_json
from webstack_operator.telemetry import metric_names as operator_metric_names

COMMITTED = Path(__file__).parents[4] / "deploy/monitoring/grafana-dashboards/webstack-users-api.json"


def test_committed_json_is_the_builders_output() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == dashboard_json(build_dashboard()), (
        "deploy/monitoring/grafana-dashboards/webstack-users-api.json is stale: run `make crd`"
    )


def test_panels_query_the_apis_metrics() -> None:
    exprs = " ".join(t["expr"] for p in build_dashboard()["panels"] for t in p.get("targets", []))
    for name in (
        metric_names.HTTP_REQUESTS_TOTAL,
        metric_names.HTTP_REQUEST_DURATION_SECONDS,
        metric_names.CACHE_HITS_TOTAL,
        metric_names.CACHE_MISSES_TOTAL,
        metric_names.CACHE_ERRORS_TOTAL,
        metric_names.CACHE_BYPASS_TOTAL,
        metric_names.DB_POOL_SIZE,
        metric_names.DB_POOL_IDLE,
    ):
        assert name in exprs


def test_panel_ids_unique_and_layout_does_not_overlap() -> None:
    panels = build_dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    cells = set()
    for panel in panels:
        pos = panel["gridPos"]
        assert pos["x"] + pos["w"] <= 24
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"panel {panel['title']} overlaps another"
                cells.add((x, y))


def test_generic_dashboard_has_no_preselected_stack() -> None:
    variables = {v["name"]: v for v in build_dashboard()["templating"]["list"]}
    assert "current" not in variables["namespace"] and "current" not in variables["job"]
    assert json.loads(dashboard_json(build_dashboard())) == build_dashboard()


def test_the_operator_row_queries_the_operators_metrics() -> None:
    panels = build_dashboard()["panels"]
    [row] = [p for p in panels if p["type"] == "row"]
    assert row["title"] == "Operator"
    below = [p for p in panels if p["gridPos"]["y"] > row["gridPos"]["y"]]
    exprs = " ".join(t["expr"] for p in below for t in p["targets"])
    for name in (
        operator_metric_names.RECONCILE_TOTAL,
        operator_metric_names.DRIFT_CORRECTIONS_TOTAL,
        operator_metric_names.STACKS,
        operator_metric_names.API_ERRORS_TOTAL,
    ):
        assert f'{name}{{job="{operator_metric_names.OPERATOR_JOB}"' in exprs, name
    assert 'result="error"' in exprs

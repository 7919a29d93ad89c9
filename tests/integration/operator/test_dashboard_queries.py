"""Every panel query of the Grafana dashboard parses as PromQL, checked by a real promtool.

promtool has no command that parses one expression, so each query (with Grafana's variables replaced as
Grafana would) becomes a recording rule of a temporary rules file, which `promtool check rules` parses.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.promtool import check_expressions

from webstack_operator.builders.dashboard import build_dashboard
from webstack_operator.telemetry import metric_names

# What Grafana substitutes before it sends a query.
GRAFANA_VARIABLES = {"$__rate_interval": "2m", "$namespace": "team-a", "$job": "shop-backend-metrics"}


def panel_queries() -> dict[str, str]:
    queries = {}
    for panel in build_dashboard()["panels"]:
        for target in panel.get("targets", []):
            expr = target["expr"]
            for variable, value in GRAFANA_VARIABLES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, f"{panel['title']}: unknown variable in {expr}"
            queries[f"{panel['title']} / {target['refId']}"] = expr
    return queries


def test_every_panel_query_parses(tmp_path: Path) -> None:
    queries = panel_queries()
    operator_row = [q for q in queries.values() if metric_names.OPERATOR_JOB in q]
    assert len(operator_row) >= 4, "the operator row's panels query the operator's job"
    checked = check_expressions(tmp_path, queries)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert re.search(rf"SUCCESS: {len(queries)} rules found", checked.stdout), checked.stdout


def test_a_query_that_does_not_parse_is_reported(tmp_path: Path) -> None:
    checked = check_expressions(tmp_path, {"broken": "sum(rate(users_api_http_requests_total[5m])"})
    assert checked.returncode != 0
    assert "parse error" in checked.stdout + checked.stderr

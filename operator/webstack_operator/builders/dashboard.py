"""The Grafana dashboard of the users API, built from its metric names.

This function is the one source: `deploy/monitoring/grafana-dashboards/webstack-users-api.json` is its
output with the defaults (a test fails when they differ; `webstack-operator dashboard` rewrites it), and
each stack's dashboard ConfigMap is its output with that stack's uid, title and variable defaults. Code is
the source rather than the JSON because the PromQL comes from `promql.py`, which alerts and canary
analysis share, and because the builders may do no file I/O.
"""

import json
from typing import Any

from users_api import metric_names as m
from webstack_operator.builders import promql

WINDOW = "$__rate_interval"
_MATCHERS = {"namespace": "$namespace", "job": "$job"}


def _target(expr: str, legend: str, ref: str) -> dict[str, Any]:
    return {
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "expr": expr,
        "legendFormat": legend,
        "refId": ref,
    }


def _panel(
    panel_id: int,
    title: str,
    unit: str,
    grid: tuple[int, int, int, int],
    targets: list[dict[str, Any]],
    *,
    kind: str = "timeseries",
    description: str = "",
) -> dict[str, Any]:
    x, y, w, h = grid
    return {
        "id": panel_id,
        "type": kind,
        "title": title,
        "description": description,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"x": x, "y": y, "w": w, "h": h},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True}},
        "targets": targets,
    }


def _variable(name: str, label: str, query: str, current: str | None) -> dict[str, Any]:
    variable: dict[str, Any] = {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "query": {"query": query, "refId": f"{name}-query"},
        "definition": query,
        "refresh": 2,
        "sort": 1,
        "includeAll": False,
        "multi": False,
    }
    if current is not None:
        variable["current"] = {"selected": True, "text": current, "value": current}
    return variable


def build_dashboard(
    *,
    uid: str = "webstack-users-api",
    title: str = "WebStack / users API",
    namespace: str | None = None,
    job: str | None = None,
) -> dict[str, Any]:
    """The dashboard model. `namespace` and `job` preselect one stack's backend (its metrics Service)."""
    sel = promql.selector(_MATCHERS)
    panels = [
        _panel(
            1,
            "Request rate by status",
            "reqps",
            (0, 0, 12, 8),
            [
                _target(
                    f"sum by ({m.LABEL_STATUS}) (rate({m.HTTP_REQUESTS_TOTAL}{sel}[{WINDOW}]))",
                    f"{{{{{m.LABEL_STATUS}}}}}",
                    "A",
                ),
            ],
        ),
        _panel(
            2,
            "Error ratio (5xx, /api)",
            "percentunit",
            (12, 0, 12, 8),
            [
                _target(promql.error_ratio(_MATCHERS, WINDOW), "5xx share", "A"),
            ],
        ),
        _panel(
            3,
            "Latency (/api)",
            "s",
            (0, 8, 12, 8),
            [
                _target(promql.latency_quantile(q, _MATCHERS, WINDOW), f"p{round(q * 100)}", ref)
                for q, ref in ((0.5, "A"), (0.95, "B"), (0.99, "C"))
            ],
        ),
        _panel(
            4,
            "Cache hit ratio",
            "percentunit",
            (12, 8, 12, 8),
            [
                _target(promql.cache_hit_ratio(_MATCHERS, WINDOW), "hit ratio", "A"),
            ],
        ),
        _panel(
            5,
            "Cache errors and bypasses",
            "ops",
            (0, 16, 12, 8),
            [
                _target(f"sum(rate({m.CACHE_ERRORS_TOTAL}{sel}[{WINDOW}]))", "errors", "A"),
                _target(f"sum(rate({m.CACHE_BYPASS_TOTAL}{sel}[{WINDOW}]))", "bypassed reads", "B"),
            ],
        ),
        _panel(
            6,
            "Postgres pool",
            "short",
            (12, 16, 12, 8),
            [
                _target(f"sum({m.DB_POOL_SIZE}{sel})", "connections", "A"),
                _target(f"sum({m.DB_POOL_IDLE}{sel})", "idle", "B"),
            ],
        ),
        _panel(
            7,
            "Backend pods up",
            "short",
            (0, 24, 6, 6),
            [
                _target(promql.targets_up(_MATCHERS), "up", "A"),
            ],
            kind="stat",
        ),
        _panel(
            8,
            "Request rate by route",
            "reqps",
            (6, 24, 18, 6),
            [
                _target(
                    f"sum by ({m.LABEL_ROUTE}) (rate({m.HTTP_REQUESTS_TOTAL}{sel}[{WINDOW}]))",
                    f"{{{{{m.LABEL_ROUTE}}}}}",
                    "A",
                ),
            ],
        ),
    ]
    return {
        "uid": uid,
        "title": title,
        "description": "The users API of a WebStack: traffic, errors, latency, cache and database pool.",
        "tags": ["webstack", "users-api"],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timezone": "utc",
        "graphTooltip": 1,
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "refresh": 1,
                    "includeAll": False,
                    "multi": False,
                },
                _variable(
                    "namespace", "Namespace", f"label_values({m.HTTP_REQUESTS_TOTAL}, namespace)", namespace
                ),
                _variable(
                    "job",
                    "Backend",
                    f'label_values({m.HTTP_REQUESTS_TOTAL}{{namespace="$namespace"}}, job)',
                    job,
                ),
            ]
        },
        "annotations": {"list": []},
        "panels": panels,
    }


def dashboard_json(dashboard: dict[str, Any]) -> str:
    """The canonical text of a dashboard: sorted keys, two-space indent, trailing newline."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

"""The Grafana dashboard of the users API, built from its metric names.

This function is the one source: `deploy/monitoring/grafana-dashboards/webstack-users-api.json` is its
output with the defaults (a test fails when they differ; `webstack-operator dashboard` rewrites it), and
each stack's dashboard ConfigMap is its output with that stack's uid, title and variable defaults. Code is
the source rather than the JSON because the PromQL comes from `promql.py`, which alerts and canary
analysis share, and because the builders may do no file I/O.
"""

import json

from webstack_contract import metric_names as m
from webstack_operator.builders import promql
from webstack_operator.kube.jsondata import JSON
from webstack_operator.telemetry.metric_names import (
    API_ERRORS_TOTAL,
    DRIFT_CORRECTIONS_TOTAL,
    DRILL_RPO_SECONDS,
    DRILL_RTO_SECONDS,
    LABEL_KIND,
    LABEL_PHASE,
    LABEL_RESULT,
    LABEL_STACK,
    LABEL_STACK_NAMESPACE,
    OPERATOR_JOB,
    RECONCILE_TOTAL,
    RESULT_ERROR,
    STACKS,
)

WINDOW = "$__rate_interval"
_MATCHERS = {"namespace": "$namespace", "job": "$job"}
_OPERATOR = promql.selector({"job": OPERATOR_JOB})
OPERATOR_ROW_Y = 30


def _target(expr: str, legend: str, ref: str) -> JSON:
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
    targets: list[JSON],
    *,
    kind: str = "timeseries",
    description: str = "",
) -> JSON:
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


def _row(panel_id: int, title: str, y: int) -> JSON:
    return {
        "id": panel_id,
        "type": "row",
        "title": title,
        "collapsed": False,
        "gridPos": {"x": 0, "y": y, "w": 24, "h": 1},
        "panels": [],
    }


def operator_panels() -> list[JSON]:
    """The operator's row: reconciles and their errors, drift put back, stacks by phase, restore drills.

    Failure and drift counters have a series only once something happened, so those queries fall back to
    0 (`promql.or_zero`): a healthy operator's panels show 0, not "No data".

    The operator serves every stack of the cluster, so these panels ignore the stack variables."""
    y = OPERATOR_ROW_Y + 1
    errors = promql.selector({"job": OPERATOR_JOB}, f'{LABEL_RESULT}="{RESULT_ERROR}"')
    return [
        _row(9, "Operator", OPERATOR_ROW_Y),
        _panel(
            10,
            "Reconciles by result",
            "ops",
            (0, y, 12, 8),
            [
                _target(
                    f"sum by ({LABEL_RESULT}) (rate({RECONCILE_TOTAL}{_OPERATOR}[{WINDOW}]))",
                    f"{{{{{LABEL_RESULT}}}}}",
                    "A",
                ),
            ],
        ),
        _panel(
            11,
            "Reconcile errors and Kubernetes API errors",
            "ops",
            (12, y, 12, 8),
            [
                _target(
                    promql.or_zero(f"sum(rate({RECONCILE_TOTAL}{errors}[{WINDOW}]))"),
                    "reconcile errors",
                    "A",
                ),
                _target(
                    promql.or_zero(f"sum by (status) (rate({API_ERRORS_TOTAL}{_OPERATOR}[{WINDOW}]))"),
                    "API {{status}}",
                    "B",
                ),
            ],
        ),
        _panel(
            12,
            "Drift corrections by kind",
            "ops",
            (0, y + 8, 12, 8),
            [
                _target(
                    promql.or_zero(
                        f"sum by ({LABEL_KIND}) (rate({DRIFT_CORRECTIONS_TOTAL}{_OPERATOR}[{WINDOW}]))"
                    ),
                    f"{{{{{LABEL_KIND}}}}}",
                    "A",
                ),
            ],
            description="Children changed or deleted by someone else and put back.",
        ),
        _panel(
            13,
            "Stacks by phase",
            "short",
            (12, y + 8, 12, 8),
            [
                # max: every replica exports the gauge; only the leader's counts stacks.
                _target(f"max by ({LABEL_PHASE}) ({STACKS}{_OPERATOR})", f"{{{{{LABEL_PHASE}}}}}", "A"),
            ],
        ),
        drill_panel(y + 16),
    ]


def drill_panel(y: int) -> JSON:
    """RPO and RTO of the restore drills of the selected namespace's stacks, over time: each point is the
    last passed drill's (status.backup.lastDrill), so a step is a new drill."""
    drills = promql.selector({"job": OPERATOR_JOB, LABEL_STACK_NAMESPACE: "$namespace"})
    legend = f"{{{{{LABEL_STACK}}}}}"
    return _panel(
        14,
        "Restore drills: RPO and RTO",
        "s",
        (0, y, 24, 8),
        [
            _target(f"max by ({LABEL_STACK}) ({DRILL_RPO_SECONDS}{drills})", f"{legend} RPO", "A"),
            _target(f"max by ({LABEL_STACK}) ({DRILL_RTO_SECONDS}{drills})", f"{legend} RTO", "B"),
        ],
        description="RPO: the age of the data the last passed drill restored. RTO: from its start to a "
        "restored database that answered the checks (docs/ops/backup-dr.md, Restore drills).",
    )


def _variable(name: str, label: str, query: str, current: str | None) -> JSON:
    variable: JSON = {
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


def users_api_panels() -> list[JSON]:
    """The users API's panels: traffic, errors, latency, cache and database pool of the stack the
    `namespace` and `job` variables select."""
    sel = promql.selector(_MATCHERS)
    return [
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
                _target(promql.error_ratio(_MATCHERS, WINDOW, zero_without_errors=True), "5xx share", "A"),
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
                _target(promql.or_zero(f"sum(rate({m.CACHE_ERRORS_TOTAL}{sel}[{WINDOW}]))"), "errors", "A"),
                _target(
                    promql.or_zero(f"sum(rate({m.CACHE_BYPASS_TOTAL}{sel}[{WINDOW}]))"), "bypassed reads", "B"
                ),
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


def _templating(namespace: str | None, job: str | None) -> JSON:
    """The data source and the stack variables, `namespace` and `job` preselected when given."""
    return {
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
    }


def build_dashboard(
    *,
    uid: str = "webstack-users-api",
    title: str = "WebStack / users API",
    namespace: str | None = None,
    job: str | None = None,
) -> JSON:
    """The dashboard model. `namespace` and `job` preselect one stack's backend (its metrics Service)."""
    return {
        "uid": uid,
        "title": title,
        "description": "The users API of a WebStack: traffic, errors, latency, cache and database pool; "
        "and the operator that manages the stacks.",
        "tags": ["webstack", "users-api"],
        "editable": False,
        "schemaVersion": 39,
        "version": 1,
        "refresh": "30s",
        "time": {"from": "now-3h", "to": "now"},
        "timezone": "utc",
        "graphTooltip": 1,
        "templating": _templating(namespace, job),
        "annotations": {"list": []},
        "panels": [*users_api_panels(), *operator_panels()],
    }


def dashboard_json(dashboard: JSON) -> str:
    """The canonical text of a dashboard: sorted keys, two-space indent, trailing newline."""
    return json.dumps(dashboard, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

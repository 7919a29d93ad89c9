"""A Grafana dashboard's panel queries as Grafana would send them to Prometheus.

Template variables take their current values (a stack's dashboard preselects its namespace and metrics
job); `$__rate_interval` is what Grafana computes for a Prometheus data source whose scrape interval is set
to the longest scrape interval of the targets: four scrape intervals (Grafana's floor for it), so every
rate() has at least the two samples it needs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any]
_DURATION = re.compile(r"(\d+)(ms|s|m|h)")
_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


@dataclass(frozen=True)
class PanelQuery:
    panel: str
    ref: str
    expr: str

    def __str__(self) -> str:
        return f"panel {self.panel!r} query {self.ref}: {self.expr}"


def seconds(duration: str) -> float:
    return sum(int(n) * _SECONDS[unit] for n, unit in _DURATION.findall(duration))


def rate_interval(scrape_intervals: list[str]) -> str:
    return f"{round(4 * max(seconds(i) for i in scrape_intervals))}s"


def panel_queries(dashboard: JSON, *, rate_window: str) -> list[PanelQuery]:
    """Every target of every panel (rows included), its variables substituted."""
    values = {"__rate_interval": rate_window}
    for variable in dashboard["templating"]["list"]:
        current = variable.get("current", {}).get("value")
        if current is not None:
            values[variable["name"]] = current

    def substitute(expr: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1) or match.group(2)
            if name not in values:
                raise AssertionError(f"the dashboard uses ${name}, which has no current value: {expr}")
            return str(values[name])

        return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)

    queries = []
    panels = [p for panel in dashboard["panels"] for p in [panel, *panel.get("panels", [])]]
    for panel in panels:
        for target in panel.get("targets") or []:
            queries.append(PanelQuery(panel["title"], target["refId"], substitute(target["expr"])))
    return queries

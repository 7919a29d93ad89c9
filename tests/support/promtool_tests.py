"""The promtool unit-test files for alert scenarios: each scenario's series, when to evaluate, what fires.

The evaluation time is past the scenario's warm-up and the rule's own `for:`, read from the rendered rule,
so a rule whose `for:` drifts from the spec fails rather than being waited out.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from tests.support.alert_series import Scenario
from tests.support.prometheus_templates import expand

_DURATION = re.compile(r"^([0-9]+)(ms|s|m|h)$")
_UNIT = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration: str) -> float:
    match = _DURATION.match(duration)
    assert match, f"not a Prometheus duration: {duration!r}"
    return int(match.group(1)) * _UNIT[match.group(2)]


def unit_test_files(
    rules_file: str, rules: Mapping[str, Mapping[str, Any]], scenarios: list[Scenario]
) -> list[dict[str, Any]]:
    """One promtool test file per sampling interval (it is a per-file setting), each a list of groups."""
    by_interval: dict[int, list[dict[str, Any]]] = {}
    for scenario in scenarios:
        rule = rules[scenario.alert]
        step = scenario.interval_seconds
        eval_seconds = scenario.warmup_seconds + seconds(rule.get("for", "0s")) + 2 * step
        eval_seconds = math.ceil(eval_seconds / step) * step
        expected: list[dict[str, Any]] = []
        if scenario.fires:
            expected.append(
                {
                    "exp_labels": {**rule.get("labels", {}), **scenario.labels},
                    "exp_annotations": {
                        key: expand(text, scenario.value) for key, text in rule.get("annotations", {}).items()
                    },
                }
            )
        by_interval.setdefault(step, []).append(
            {
                "name": f"{scenario.alert}: {scenario.title}",
                "interval": f"{step}s",
                "input_series": [s.as_input() for s in scenario.series],
                "alert_rule_test": [
                    {
                        "eval_time": f"{int(eval_seconds)}s",
                        "alertname": scenario.alert,
                        "exp_alerts": expected,
                    }
                ],
            }
        )
    return [
        {"rule_files": [rules_file], "evaluation_interval": f"{step}s", "tests": groups}
        for step, groups in sorted(by_interval.items())
    ]

"""Prometheus's template functions (template/template.go), ported: the annotation text an alert shows.

A scenario's expected annotations are the rule's own templates expanded here with the scenario's value, so
a rule that shows the wrong value (or formats it differently) fails its promtool test.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable


def _g4(value: float) -> str:
    return f"{value:.4g}"


def humanize(value: float) -> str:
    if value == 0 or math.isnan(value) or math.isinf(value):
        return _g4(value)
    prefix = ""
    if abs(value) >= 1:
        for p in ["k", "M", "G", "T", "P", "E", "Z", "Y"]:
            if abs(value) < 1000:
                break
            prefix, value = p, value / 1000
    else:
        for p in ["m", "u", "n", "p", "f", "a", "z", "y"]:
            if abs(value) >= 1:
                break
            prefix, value = p, value * 1000
    return f"{_g4(value)}{prefix}"


def humanize_percentage(value: float) -> str:
    return f"{_g4(value * 100)}%"


def humanize_duration(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        return _g4(value)
    if value == 0:
        return f"{_g4(value)}s"
    if abs(value) >= 1:
        sign = "-" if value < 0 else ""
        whole = int(abs(value))
        seconds, minutes, hours, days = whole % 60, whole // 60 % 60, whole // 3600 % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(abs(value))}s"
    prefix = ""
    for p in ["m", "u", "n", "p", "f", "a", "z", "y"]:
        if abs(value) >= 1:
            break
        prefix = p
        value *= 1000
    return f"{_g4(value)}{prefix}s"


_TEMPLATE = re.compile(r"\{\{\s*\$value\s*(?:\|\s*(\w+)\s*)?\}\}")
_FUNCTIONS: dict[str, Callable[[float], str]] = {
    "humanize": humanize,
    "humanizePercentage": humanize_percentage,
    "humanizeDuration": humanize_duration,
}


def expand(template: str, value: float | None) -> str:
    """The annotation text Prometheus renders for `$value` (the only template variable the rules use)."""

    def one(match: re.Match[str]) -> str:
        assert value is not None, f"{template!r} shows $value: the scenario must say what it is"
        function = match.group(1)
        return _FUNCTIONS[function](value) if function else f"{value:g}"

    return _TEMPLATE.sub(one, template)

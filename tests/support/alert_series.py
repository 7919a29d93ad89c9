"""What an alert scenario is made of: synthetic series, the scenario, values either side of a threshold.

Kept apart from the scenarios (tests/support/alert_scenarios.py) so that the promtool files written from
them (tests/support/promtool_tests.py) need only this vocabulary.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

MINUTE = 60


@dataclass(frozen=True)
class Series:
    name: str
    labels: Mapping[str, str]
    values: str  # promtool's expanding notation, e.g. `0+60x30` or `1x30`

    def as_input(self) -> dict[str, str]:
        inner = ",".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()))
        return {"series": f"{self.name}{{{inner}}}", "values": self.values}


@dataclass(frozen=True)
class Scenario:
    alert: str
    title: str
    fires: bool
    series: list[Series]
    value: float | None = None  # what `$value` is when it fires (for the annotations)
    labels: Mapping[str, str] = field(default_factory=dict)  # labels the expression's result carries
    warmup_seconds: int = 10 * MINUTE  # before `for:` starts counting: the rule's rate windows fill
    interval_seconds: int = MINUTE


SAMPLES = 90  # one and a half hours of one-minute samples: past every window plus the longest default `for:`


def rising(name: str, labels: Mapping[str, str], per_second: float, samples: int = SAMPLES) -> Series:
    """A counter growing at `per_second`."""
    return Series(name, labels, f"0+{per_second * MINUTE:.12g}x{samples}")


def level(name: str, labels: Mapping[str, str], value: float, samples: int = SAMPLES) -> Series:
    return Series(name, labels, f"{value:.12g}x{samples}")


def beyond(threshold: float, bound: float) -> float:
    """Midway from a threshold to the metric's bound: past the threshold, inside what the metric can be."""
    return (threshold + bound) / 2


def within(threshold: float) -> float:
    """Half the threshold: well on the quiet side of an upper limit."""
    return threshold / 2

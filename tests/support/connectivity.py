"""The intended network connectivity of the sample stacks (docs/network-connectivity.yaml) and its table
in docs/architecture.md: one source, two views, kept equal by a unit test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
INTENDED = ROOT / "docs" / "network-connectivity.yaml"
ARCHITECTURE = ROOT / "docs" / "architecture.md"
SECTION = "## Network connectivity"

# The stack's own pods, by the name the table gives them and the component label their pods carry.
COMPONENTS = {
    "frontend": "frontend",
    "backend": "backend",
    "migration Job": "migrate",
    "rotation Job": "credentials",
    "Postgres": "database",
    "Redis": "cache",
}


@dataclass(frozen=True)
class Port:
    protocol: str
    number: int

    @classmethod
    def parse(cls, text: str) -> Port:
        protocol, number = text.split()
        assert protocol in ("TCP", "UDP"), text
        return cls(protocol, int(number))

    def __str__(self) -> str:
        return f"{self.protocol} {self.number}"


@dataclass(frozen=True)
class Row:
    """An allow: each source may open each port on each destination, for the named samples."""

    samples: tuple[str, ...]
    sources: tuple[str, ...]
    destinations: tuple[str, ...]
    ports: tuple[Port, ...]
    why: str


def _row(raw: dict[str, Any]) -> Row:
    return Row(
        samples=tuple(raw["samples"]),
        sources=tuple(raw["from"]),
        destinations=tuple(raw["to"]),
        ports=tuple(Port.parse(p) for p in raw["ports"]),
        why=raw["why"],
    )


def load_intended() -> tuple[dict[str, Path], list[Row]]:
    """The samples (name -> file) and every row of the intended connectivity."""
    raw = yaml.safe_load(INTENDED.read_text(encoding="utf-8"))
    samples = {name: ROOT / path for name, path in raw["samples"].items()}
    return samples, [_row(r) for r in raw["rows"]]


def markdown_table(rows: list[Row]) -> str:
    """The table as docs/architecture.md shows it."""
    lines = ["| samples | from | to | port | why |", "| --- | --- | --- | --- | --- |"]
    for row in rows:
        cells = (
            ", ".join(row.samples),
            ", ".join(row.sources),
            ", ".join(row.destinations),
            ", ".join(map(str, row.ports)),
            row.why,
        )
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def documented_section() -> str:
    """The "Network connectivity" section of docs/architecture.md, up to the next section."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    start = text.index(SECTION + "\n")
    end = text.find("\n## ", start + len(SECTION))
    return text[start : end if end >= 0 else len(text)]

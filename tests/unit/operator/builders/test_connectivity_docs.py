"""The intended connectivity table in docs/architecture.md is the machine-readable copy, row for row."""

from __future__ import annotations

from tests.support.connectivity import (
    COMPONENTS,
    INTENDED,
    documented_section,
    load_intended,
    markdown_table,
)

PEERS_OUTSIDE = {
    "cluster DNS pods",
    "monitoring namespace",
    "private addresses",
    "ALB subnets",
    "database subnets",
    "any address",
}


def test_architecture_shows_the_intended_table() -> None:
    _, rows = load_intended()
    assert markdown_table(rows) in documented_section(), (
        f"docs/architecture.md (Network connectivity) differs from {INTENDED.name}; paste:\n"
        + markdown_table(rows)
    )


def test_the_section_follows_ownership_and_data_safety() -> None:
    from tests.support.connectivity import ARCHITECTURE

    headings = [
        line for line in ARCHITECTURE.read_text(encoding="utf-8").splitlines() if line.startswith("## ")
    ]
    assert headings[headings.index("## Ownership and data safety") + 1] == "## Network connectivity"


def test_rows_name_known_samples_and_peers() -> None:
    samples, rows = load_intended()
    assert set(samples) == {"minimal", "full", "external-db"}
    for path in samples.values():
        assert path.exists(), path
    for row in rows:
        assert set(row.samples) <= set(samples), row
        for peer in (*row.sources, *row.destinations):
            assert peer in COMPONENTS or peer in PEERS_OUTSIDE, (peer, row)
        assert any(p in COMPONENTS for p in (*row.sources, *row.destinations)), row
        assert row.ports and row.why, row

"""docs/crd-reference.md is generated from the models and kept current."""

from __future__ import annotations

from pathlib import Path

from webstack_operator.api.reference import crd_reference_markdown

DOC = Path(__file__).parents[4] / "docs" / "crd-reference.md"


def test_reference_is_current() -> None:
    assert DOC.read_text(encoding="utf-8") == crd_reference_markdown(), (
        "docs/crd-reference.md is stale: make crd"
    )


def test_reference_covers_every_section_and_rule() -> None:
    text = crd_reference_markdown()
    for heading in (
        "## `spec`",
        "## `spec.backend`",
        "## `spec.database.credentials`",
        "## `status`",
        "## `status.conditions[]`",
        "## `spec.backend.delivery.steps[]`",
    ):
        assert heading in text
    assert "strategy Canary needs at least one step" in text
    assert "[`delivery`](#specbackenddelivery)" in text

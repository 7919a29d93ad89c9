"""Kubernetes quantities: the apiserver's pattern and exact values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from webstack_operator.kube.quantity import is_quantity, parse_quantity


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("100m", Decimal("0.1")),
        ("1", Decimal(1)),
        ("1.5", Decimal("1.5")),
        ("128Mi", Decimal(128 * 2**20)),
        ("1Gi", Decimal(2**30)),
        ("1G", Decimal(10**9)),
        ("1k", Decimal(1000)),
        ("1e3", Decimal(1000)),
        ("2E", Decimal(2 * 10**18)),
        ("+5", Decimal(5)),
        (".5", Decimal("0.5")),
    ],
)
def test_parse(text: str, value: Decimal) -> None:
    assert is_quantity(text)
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["", "1 Gi", "1gi", "-1", "1.2.3", "Mi", "1KiB", "1e"])
def test_reject(text: str) -> None:
    assert not is_quantity(text)
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def test_ints_pass_through() -> None:
    assert parse_quantity(3) == Decimal(3)

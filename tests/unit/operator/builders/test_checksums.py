"""Configuration checksums."""

from __future__ import annotations

from webstack_operator.builders.checksums import checksum


def test_checksum_ignores_key_order() -> None:
    assert checksum({"a": "1", "b": "2"}) == checksum({"b": "2", "a": "1"})
    assert checksum({"a": "1"}) != checksum({"a": "2"})

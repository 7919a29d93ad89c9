"""Keyset cursors: opaque, round-trip exactly, and reject anything we did not produce."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from users_api.cursor import MAX_ID, InvalidCursorError, decode_cursor, encode_cursor


@given(st.integers(min_value=0, max_value=MAX_ID))
def test_round_trip(last_id: int) -> None:
    cursor = encode_cursor(last_id)
    assert decode_cursor(cursor) == last_id
    assert not set(cursor) & set("=/+")  # safe in a query string as is


@given(st.text(max_size=80))
def test_arbitrary_text_is_rejected_or_decodes_to_a_valid_id(text: str) -> None:
    try:
        value = decode_cursor(text)
    except InvalidCursorError:
        return
    assert 0 <= value <= MAX_ID


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        base64.urlsafe_b64encode(b"u1:").decode(),
        base64.urlsafe_b64encode(b"u1:-5").decode(),
        base64.urlsafe_b64encode(b"v9:5").decode(),
        base64.urlsafe_b64encode(b"u1:" + str(MAX_ID + 1).encode()).decode(),
        base64.urlsafe_b64encode("u1:\u0661".encode()).decode(),  # a non-ASCII digit
        "A" * 65,
    ],
)
def test_rejects_foreign_cursors(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)


def test_encode_refuses_ids_outside_bigint() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_cursor(MAX_ID + 1)

"""Keyset cursors: opaque, round-trip exactly, and accept exactly the strings of their published pattern."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from users_api.cursor import (
    CURSOR_MAX_LENGTH,
    CURSOR_PATTERN,
    MAX_ID,
    InvalidCursorError,
    decode_cursor,
    encode_cursor,
)


@given(st.integers(min_value=0, max_value=MAX_ID))
def test_round_trip(last_id: int) -> None:
    cursor = encode_cursor(last_id)
    assert decode_cursor(cursor) == last_id
    assert not set(cursor) & set("=/+")  # safe in a query string as is
    assert re.fullmatch(CURSOR_PATTERN, cursor)
    assert len(cursor) <= CURSOR_MAX_LENGTH


@given(st.from_regex(CURSOR_PATTERN, fullmatch=True).filter(lambda c: len(c) <= CURSOR_MAX_LENGTH))
def test_every_string_of_the_published_pattern_is_a_position(cursor: str) -> None:
    """What the OpenAPI document allows, the API accepts: a client validating against it is never refused."""
    assert 0 <= decode_cursor(cursor) <= MAX_ID


@given(st.text(max_size=80))
def test_what_decodes_matches_the_published_pattern(text: str) -> None:
    try:
        decode_cursor(text)
    except InvalidCursorError:
        assert not (re.fullmatch(CURSOR_PATTERN, text) and len(text) <= CURSOR_MAX_LENGTH)
    else:
        assert re.fullmatch(CURSOR_PATTERN, text)


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
        base64.urlsafe_b64encode(b"u1:5").decode(),  # padded: not what encode_cursor produces
        base64.urlsafe_b64encode(b"u1:5").decode().rstrip("=") + "\n",
        base64.urlsafe_b64encode("u1:\u0661".encode()).decode(),  # a non-ASCII digit
        "A" * 65,
    ],
)
def test_rejects_foreign_cursors(cursor: str) -> None:
    with pytest.raises(InvalidCursorError):
        decode_cursor(cursor)


def test_past_the_range_of_ids_means_after_every_id() -> None:
    """A well-formed cursor beyond bigint is not refused: it points after every id, an empty last page."""
    past = base64.urlsafe_b64encode(b"u1:" + str(MAX_ID + 1).encode()).decode().rstrip("=")
    assert decode_cursor(past) == MAX_ID
    assert decode_cursor(base64.urlsafe_b64encode(b"u1:007").decode()) == 7  # leading zeros are digits too


def test_encode_refuses_ids_outside_bigint() -> None:
    with pytest.raises(ValueError, match="out of range"):
        encode_cursor(MAX_ID + 1)

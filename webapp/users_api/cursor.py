"""Opaque keyset-pagination cursors.

A cursor names the last id of the previous page, so the next page is `WHERE id > $1 ORDER BY id`: an index
range scan that stays fast at any depth, unlike OFFSET. It is base64url so clients treat it as opaque and we
can change its content later (the version prefix) without breaking links they hold.
"""

from __future__ import annotations

import base64
import binascii

_VERSION = "u1"
MAX_ID = 2**63 - 1  # the range of Postgres bigint


class InvalidCursorError(ValueError):
    """The cursor was not produced by `encode_cursor` (truncated, edited, or from another API)."""


def encode_cursor(last_id: int) -> str:
    if not 0 <= last_id <= MAX_ID:
        raise ValueError(f"id out of range: {last_id}")
    raw = f"{_VERSION}:{last_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> int:
    """The last id the cursor points after, or InvalidCursorError."""
    if not cursor or len(cursor) > 64:
        raise InvalidCursorError("cursor is empty or too long")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        raw = base64.b64decode(padded, altchars=b"-_", validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursorError("cursor is not valid base64url") from None
    version, _, value = raw.partition(":")
    if version != _VERSION or not value.isdigit() or not value.isascii():
        raise InvalidCursorError("cursor has an unknown format")
    last_id = int(value)
    if last_id > MAX_ID:
        raise InvalidCursorError("cursor is out of range")
    return last_id

"""Opaque keyset-pagination cursors.

A cursor names the last id of the previous page, so the next page is `WHERE id > $1 ORDER BY id`: an index
range scan that stays fast at any depth, unlike OFFSET. It is base64url so clients treat it as opaque and we
can change its content later (the version prefix) without breaking links they hold.

Which strings are cursors is one regular expression, CURSOR_PATTERN, that the OpenAPI document publishes and
`decode_cursor` enforces: a client that validates against the schema never sends a cursor we refuse.
"""

from __future__ import annotations

import base64
import re

_VERSION = "u1"
MAX_ID = 2**63 - 1  # the range of Postgres bigint
CURSOR_MAX_LENGTH = 64


def _base64url_of_digits() -> str:
    """The unpadded base64url spellings of one or more ASCII digits (0x30-0x39), derived bit by bit.

    Three digits 0011aaaa 0011bbbb 0011cccc are four characters 0011aa|aa0011|bbbb00|11cccc; `aaaa` <= 9
    limits the first two together. One or two trailing digits end in two or three characters with zero bits.
    """
    first_two = "(?:[MN][DTjz]|O[DT])"  # 0011aa + aa0011 with aaaa in 0..9
    three = f"{first_two}[AEIMQUYcgk][w-z0-5]"  # + bbbb00 + 11cccc, bbbb and cccc in 0..9
    two = f"{first_two}[AEIMQUYcgk]"
    one = "(?:[MN][AQgw]|O[AQ])"  # 0011aa + aa0000
    return f"(?:{three})*(?:{three}|{two}|{one})"


# "u1:" is three bytes, so it encodes alone to "dTE6" and the digits start on a fresh base64 group.
_PREFIX = base64.urlsafe_b64encode(f"{_VERSION}:".encode("ascii")).decode("ascii")
CURSOR_PATTERN = f"^{_PREFIX}{_base64url_of_digits()}$"
_CURSOR = re.compile(CURSOR_PATTERN)


class InvalidCursorError(ValueError):
    """The cursor was not produced by `encode_cursor` (truncated, edited, or from another API)."""


def encode_cursor(last_id: int) -> str:
    if not 0 <= last_id <= MAX_ID:
        raise ValueError(f"id out of range: {last_id}")
    raw = f"{_VERSION}:{last_id}".encode("ascii")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def decode_cursor(cursor: str) -> int:
    """The last id the cursor points after, or InvalidCursorError.

    Past the range of ids means after every id (an empty last page), so every string of the pattern is
    a position and none is refused.
    """
    if len(cursor) > CURSOR_MAX_LENGTH or not _CURSOR.fullmatch(cursor):
        raise InvalidCursorError("cursor is not a next_cursor of this API")
    raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    return min(int(raw.removeprefix(f"{_VERSION}:")), MAX_ID)

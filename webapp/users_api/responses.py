"""JSON responses encoded with orjson: several times faster than the stdlib encoder on the hot list route."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import Response


def dumps(content: Any) -> bytes:
    """Encode like every response of the service (UTC datetimes as RFC 3339, non-str keys allowed)."""
    return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z)


class JSONResponse(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return dumps(content)


class RawJSONResponse(Response):
    """A body that is already encoded JSON, e.g. straight from the cache."""

    media_type = "application/json"

"""The floor of our stack: a bare ASGI callable under uvicorn answering the bytes in $BARE_BODY_FILE (the
cached list body) with the headers our API sends, on every path. What `users-api serve` could at best reach
on this machine; the rest of its time per request is the application's."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

BODY = Path(os.environ["BARE_BODY_FILE"]).read_bytes()
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(BODY)).encode()),
        (b"x-cache", b"HIT"),
        (b"cache-control", b"private, no-cache"),
    ],
}
RESPONSE_BODY = {"type": "http.response.body", "body": BODY}


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send(START)
    await send(RESPONSE_BODY)

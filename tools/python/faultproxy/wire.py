"""Bytes on the wire: which headers a proxy must not forward, Kubernetes Status bodies, and where to cut a
watch stream."""

from __future__ import annotations

import json
from collections.abc import Iterable

from multidict import CIMultiDict

from faultproxy.faults import REASONS

# RFC 9110 §7.6.1: hop-by-hop headers describe one connection, not the message. Host and Content-Length
# are set again by the client library for the upstream request.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)


def end_to_end(headers: Iterable[tuple[str, str]], *, drop: Iterable[str] = ()) -> CIMultiDict[str]:
    """The headers to forward, repeated ones (Warning, Impersonate-Group) kept in order."""
    pairs = list(headers)
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    skip = HOP_BY_HOP | named | {d.lower() for d in drop}
    return CIMultiDict((name, value) for name, value in pairs if name.lower() not in skip)


def status_body(code: int, message: str, retry_after: int | None = None) -> dict[str, object]:
    """A failure as the apiserver reports one (metav1.Status)."""
    body: dict[str, object] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, "Unknown"),
        "code": code,
    }
    if retry_after is not None:
        body["details"] = {"retryAfterSeconds": retry_after}
    return body


def error_event(code: int, message: str) -> bytes:
    """One watch line: an ERROR event carrying a Status."""
    return json.dumps({"type": "ERROR", "object": status_body(code, message)}).encode() + b"\n"


class WatchCut:
    """Feeds a watch stream through; after `after_events` whole lines it holds the next line until it is
    complete and lets out its first half only: the client then sees a torn JSON document."""

    def __init__(self, after_events: int) -> None:
        self.lines_left = after_events
        self.held = b""

    def feed(self, chunk: bytes) -> tuple[bytes, bool]:
        """The bytes to send now, and whether to close the connection after them."""
        out = b""
        while chunk:
            if self.lines_left > 0:
                end = chunk.find(b"\n")
                if end < 0:
                    return out + chunk, False
                out, chunk = out + chunk[: end + 1], chunk[end + 1 :]
                self.lines_left -= 1
                continue
            self.held += chunk
            end = self.held.find(b"\n")
            if end < 0:
                return out, False
            return out + self.held[: max(1, end // 2)], True
        return out, False

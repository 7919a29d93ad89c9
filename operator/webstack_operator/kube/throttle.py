"""The pause a throttled API server asks for, kept by the whole client.

A 429 (or a 503) with `Retry-After: N` is the apiserver's priority-and-fairness saying "this client sends
too much": retrying only the refused request later is not enough when the same client then posts an Event
and a status PATCH about the failure a few milliseconds on. So the answer closes a gate every request of the
client waits at, writes, reads and watches alike, until the server's time has passed. The gate is per
client (per connection to one server): the leader election has its own, so renewals do not wait behind a
throttled reconcile.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

# The statuses whose Retry-After closes the gate (the apiserver's APF sends 429; an overloaded aggregated
# API or a proxy, 503).
RETRY_AFTER_STATUSES = frozenset({429, 503})
# A bound on one pause: a broken proxy answering `Retry-After: 86400` must not silence the operator for a
# day. The apiserver's own answers are a second or a few.
MAX_PAUSE_SECONDS = 60.0


def retry_after_seconds(value: str | None) -> float | None:
    """A Retry-After header in seconds, as the apiserver sends it; None for anything else (an HTTP date)."""
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None
    return seconds if seconds is not None and 0 <= seconds < float("inf") else None


class RetryAfterGate:
    """Closed from a throttled answer until its Retry-After has passed; `wait` returns once it is open.

    Kept apart from the request path's other checks (the write fence goes right after `wait`, at the moment
    of sending: a wait here may outlast a Lease)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._open_at = 0.0  # clock time from which requests may go again

    def note(self, status: int, retry_after: str | None) -> None:
        """An answer arrived: a 429/503 with Retry-After closes the gate (a later reopening wins)."""
        if status not in RETRY_AFTER_STATUSES:
            return
        seconds = retry_after_seconds(retry_after)
        if seconds:
            self._open_at = max(self._open_at, self._clock() + min(seconds, MAX_PAUSE_SECONDS))

    def remaining(self) -> float:
        """Seconds until requests may go again (0: open)."""
        return max(0.0, self._open_at - self._clock())

    async def wait(self) -> None:
        """Until the gate is open; a throttled answer arriving meanwhile makes it wait longer."""
        # A deadline that may move later, not a flag to wake on: sleeping until it is the wait.
        while (left := self.remaining()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(left)

"""Polling with a deadline: tests never sleep to wait, and fail with what they last saw."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    pass


def eventually(
    probe: Callable[[], T],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Calls `probe` until `until(result)` holds; raises with the last result (or error) at the deadline."""
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = probe()
            if until(value):
                return value
            last = value
        except Exception as e:  # the probe may fail while the thing it watches is still coming up
            last = e
        if time.monotonic() >= deadline:
            raise Timeout(f"timed out after {timeout}s waiting for {what}; last seen: {last!r}"[:4000])
        time.sleep(interval)

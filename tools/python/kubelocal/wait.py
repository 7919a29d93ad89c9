"""Polling with a deadline: tests never sleep to wait, and fail with what they last saw.

`eventually` has a sync face (kubectl, HTTP probes) and an async face (`eventually_async`, for the API
tests' event loop). Both drive one `Attempts`, so the deadline, what was last seen and the failure message
exist once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Generic, TypeVar

T = TypeVar("T")


class Timeout(AssertionError):
    """The deadline passed; the message names what was awaited and what was last seen."""


class GiveUp(Exception):
    """Raised by a probe when waiting longer cannot help (the process it watches has exited)."""


class Attempts(Generic[T]):
    """One wait's bookkeeping. As a context manager around a probe, it records the probe's error and lets
    the loop try again: what is watched may fail while it is still coming up."""

    def __init__(self, until: Callable[[T], bool], *, timeout: float, what: str) -> None:
        self.until = until
        self.timeout = timeout
        self.what = what
        self.deadline = time.monotonic() + timeout
        self.last: object = None

    def accepts(self, value: T) -> bool:
        if self.until(value):
            return True
        self.last = value
        return False

    def pause(self, interval: float) -> float:
        """`interval`, the time to wait before the next attempt; past the deadline, the Timeout."""
        if time.monotonic() >= self.deadline:
            message = f"timed out after {self.timeout}s waiting for {self.what}; last seen: {self.last!r}"
            raise Timeout(message[:4000])
        return interval

    def __enter__(self) -> Attempts[T]:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool:
        if isinstance(exc, Exception) and not isinstance(exc, GiveUp):
            self.last = exc
            return True
        return False


def eventually(
    probe: Callable[[], T],
    *,
    until: Callable[[T], bool] = bool,
    timeout: float = 30.0,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Calls `probe` until `until(result)` holds; raises Timeout with the last result (or error)."""
    attempts = Attempts(until, timeout=timeout, what=what)
    while True:
        with attempts:
            if attempts.accepts(value := probe()):
                return value
        time.sleep(attempts.pause(interval))


async def eventually_async(
    probe: Callable[[], Awaitable[T]],
    *,
    until: Callable[[T], bool],
    within: float = 30.0,
    what: str = "condition",
) -> T:
    """Awaits `probe` until `until(result)` holds; raises Timeout with the last result (or error).

    It polls every 50 ms: its callers, the API tests, probe cheap loopback endpoints."""
    attempts = Attempts(until, timeout=within, what=what)
    while True:
        with attempts:
            if attempts.accepts(value := await probe()):
                return value
        await asyncio.sleep(attempts.pause(0.05))

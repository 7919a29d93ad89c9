"""A circuit breaker, so a Redis outage costs one timeout per reset period instead of one per request.

closed --(N consecutive failures)--> open --(reset period elapsed)--> half-open
half-open lets exactly one trial call through: success closes the circuit, failure opens it again.
The clock is injected so the state machine is tested without sleeping.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable


class BreakerState(enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


class CircuitBreaker:
    def __init__(
        self,
        *,
        failure_threshold: int,
        reset_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        if reset_seconds <= 0:
            raise ValueError("reset_seconds must be positive")
        self.failure_threshold = failure_threshold
        self.reset_seconds = reset_seconds
        self._clock = clock
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False
        self._trial_started_at = 0.0

    @property
    def state(self) -> BreakerState:
        """The state as seen now: an open circuit whose period has elapsed reports half-open."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.reset_seconds:
            return BreakerState.HALF_OPEN
        return self._state

    def allow(self) -> bool:
        """May a call go through now? In half-open, only the first caller gets the trial."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.OPEN:
            return False
        now = self._clock()
        # A trial whose caller vanished (cancelled) must not block the circuit forever.
        if self._trial_in_flight and now - self._trial_started_at < self.reset_seconds:
            return False
        self._state = BreakerState.HALF_OPEN
        self._trial_in_flight = True
        self._trial_started_at = now
        return True

    @property
    def is_trial(self) -> bool:
        """True while the one half-open trial call is outstanding."""
        return self._trial_in_flight

    def record_success(self) -> None:
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._trial_in_flight = False
        if self._state is BreakerState.HALF_OPEN:
            self._trip()
            return
        self._failures += 1
        if self._failures >= self.failure_threshold:
            self._trip()

    def _trip(self) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._clock()
        self._failures = 0

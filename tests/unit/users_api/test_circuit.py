"""The circuit breaker's state machine, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from users_api.circuit import BreakerState, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def state_of(cb: CircuitBreaker) -> BreakerState:
    """Read through a function so the type checker does not carry narrowing across state changes."""
    return cb.state


def breaker(clock: Clock, failures: int = 3, reset: float = 5.0) -> CircuitBreaker:
    return CircuitBreaker(failure_threshold=failures, reset_seconds=reset, clock=clock)


def test_opens_after_consecutive_failures_only() -> None:
    cb = breaker(Clock())
    cb.record_failure()
    cb.record_failure()
    cb.record_success()  # the streak is broken
    cb.record_failure()
    cb.record_failure()
    assert state_of(cb) is BreakerState.CLOSED
    assert cb.allow()
    cb.record_failure()
    assert state_of(cb) is BreakerState.OPEN
    assert not cb.allow()


def test_half_open_after_the_reset_period_lets_one_trial_through() -> None:
    clock = Clock()
    cb = breaker(clock, failures=1)
    cb.record_failure()
    clock.now += 4.9
    assert not cb.allow()
    clock.now += 0.1
    assert state_of(cb) is BreakerState.HALF_OPEN
    assert cb.allow()
    assert cb.is_trial
    assert not cb.allow()  # only one trial at a time


def test_trial_success_closes_and_failure_reopens() -> None:
    clock = Clock()
    cb = breaker(clock, failures=2)
    cb.record_failure()
    cb.record_failure()
    clock.now += 5
    assert cb.allow()
    cb.record_failure()
    assert state_of(cb) is BreakerState.OPEN  # one failure in half-open is enough
    clock.now += 5
    assert cb.allow()
    cb.record_success()
    assert state_of(cb) is BreakerState.CLOSED
    assert cb.allow()
    assert cb.allow()


def test_a_trial_that_never_reports_does_not_block_forever() -> None:
    clock = Clock()
    cb = breaker(clock, failures=1)
    cb.record_failure()
    clock.now += 5
    assert cb.allow()
    assert not cb.allow()
    clock.now += 5
    assert cb.allow()


@pytest.mark.parametrize(("failures", "reset"), [(0, 1.0), (1, 0.0)])
def test_rejects_nonsense_configuration(failures: int, reset: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        CircuitBreaker(failure_threshold=failures, reset_seconds=reset)

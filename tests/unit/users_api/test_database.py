"""Start-up retries while Postgres comes up: the back-off and the overall limit, on a fake clock."""

from __future__ import annotations

import pytest

from users_api.database import retry_while_unavailable


class Clock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


class Refused:
    """An action that is refused `failures` times (as kube-proxy refuses while there is no endpoint)."""

    def __init__(self, failures: int, error: Exception | None = None) -> None:
        self.failures = failures
        self.calls = 0
        self.error = error or ConnectionRefusedError(111, "Connection refused")

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return "connected"


async def _retry(action: Refused, clock: Clock, limit_seconds: float) -> str:
    return await retry_while_unavailable(
        action, what="connect", limit_seconds=limit_seconds, clock=clock, sleep=clock.sleep
    )


async def test_back_off_doubles_from_a_fifth_of_a_second_and_is_capped_at_one_second() -> None:
    clock, action = Clock(), Refused(failures=7)
    result = await _retry(action, clock, 60)
    assert result == "connected" and action.calls == 8
    assert clock.slept == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0, 1.0, 1.0])


async def test_gives_up_with_the_last_error_once_the_next_wait_would_pass_the_limit() -> None:
    clock, action = Clock(), Refused(failures=1_000)
    start = clock.now
    with pytest.raises(ConnectionRefusedError):
        await _retry(action, clock, 10)
    # DB_STARTUP_TIMEOUT_SECONDS keeps its meaning: never a wait past it, and no second of it left unused.
    assert clock.now - start <= 10
    assert clock.now - start > 10 - 1.0
    assert max(clock.slept) == pytest.approx(1.0)
    assert action.calls == len(clock.slept) + 1


async def test_a_zero_limit_tries_once() -> None:
    clock, action = Clock(), Refused(failures=1)
    with pytest.raises(ConnectionRefusedError):
        await _retry(action, clock, 0)
    assert action.calls == 1 and clock.slept == []


async def test_an_error_that_is_not_unavailability_is_raised_at_once() -> None:
    clock, action = Clock(), Refused(failures=1, error=ValueError("bad DSN"))
    with pytest.raises(ValueError, match="bad DSN"):
        await _retry(action, clock, 60)
    assert action.calls == 1 and clock.slept == []

"""kubelocal.wait: both faces of `eventually` return the accepted value, or fail with what they last saw."""

from __future__ import annotations

import itertools
import time

import pytest

from kubelocal.wait import GiveUp, Timeout, eventually, eventually_async


def test_returns_the_first_accepted_value() -> None:
    counter = itertools.count()
    assert eventually(lambda: next(counter), until=lambda n: n >= 3, interval=0.001) == 3


def test_timeout_names_what_and_the_last_value() -> None:
    with pytest.raises(Timeout, match=r"waiting for the answer; last seen: 'almost'"):
        eventually(
            lambda: "almost", until=lambda s: s == "done", timeout=0.05, interval=0.01, what="the answer"
        )


def test_a_failing_probe_is_retried_and_its_last_error_shown() -> None:
    calls = itertools.count()

    def probe() -> str:
        if next(calls) < 2:
            raise ConnectionError("refused")
        return "up"

    assert eventually(probe, interval=0.001) == "up"

    def broken() -> str:
        raise ValueError("boom")

    with pytest.raises(Timeout, match=r"last seen: ValueError\('boom'\)"):
        eventually(broken, timeout=0.05, interval=0.01)


def test_give_up_ends_the_wait_at_once() -> None:
    def probe() -> bool:
        raise GiveUp("the process exited")

    started = time.monotonic()
    with pytest.raises(GiveUp, match="exited"):
        eventually(probe, timeout=30)
    assert time.monotonic() - started < 5


async def test_async_face_returns_the_first_accepted_value() -> None:
    counter = itertools.count()

    async def probe() -> int:
        return next(counter)

    assert await eventually_async(probe, until=lambda n: n >= 3) == 3


async def test_async_face_times_out_with_the_last_value_and_error() -> None:
    async def stuck() -> str:
        return "almost"

    with pytest.raises(Timeout, match=r"after 0.05s waiting for cache; last seen: 'almost'"):
        await eventually_async(stuck, until=lambda s: s == "done", within=0.05, what="cache")

    async def failing() -> str:
        raise ConnectionError("refused")

    with pytest.raises(Timeout, match=r"last seen: ConnectionError\('refused'\)"):
        await eventually_async(failing, until=bool, within=0.05)

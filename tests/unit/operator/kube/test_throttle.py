"""The client-wide Retry-After gate: the pure rule, and KubeClient holding every request at it."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from tests.support.fake_apiserver import FakeApi, status
from tests.support.polling import eventually

from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.kube.jsondata import JSON
from webstack_operator.kube.throttle import MAX_PAUSE_SECONDS, RetryAfterGate

CONFIGMAPS = "/api/v1/namespaces/team/configmaps"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_throttled_answer_closes_the_gate_for_its_retry_after() -> None:
    clock = Clock()
    gate = RetryAfterGate(clock)
    assert gate.remaining() == 0
    gate.note(429, "2")
    assert gate.remaining() == 2
    clock.now += 1.5
    assert gate.remaining() == pytest.approx(0.5)
    clock.now += 0.5
    assert gate.remaining() == 0


@pytest.mark.parametrize(
    ("code", "header"), [(200, "5"), (500, "5"), (409, "5"), (429, None), (429, "0"), (503, "a date")]
)
def test_only_a_429_or_503_saying_when_closes_the_gate(code: int, header: str | None) -> None:
    gate = RetryAfterGate(Clock())
    gate.note(code, header)
    assert gate.remaining() == 0


def test_the_later_reopening_wins_and_a_pause_is_bounded() -> None:
    clock = Clock()
    gate = RetryAfterGate(clock)
    gate.note(503, "5")
    gate.note(429, "1")  # a shorter pause answered meanwhile does not reopen it sooner
    assert gate.remaining() == 5
    gate.note(429, "86400")
    assert gate.remaining() == MAX_PAUSE_SECONDS


async def _count(api: FakeApi) -> int:
    return len(api.watches)


async def test_after_a_429_with_retry_after_nothing_is_sent_before_it(
    api: FakeApi, client: KubeClient
) -> None:
    """The refused write, then what a reconcile sends about it at once: an Event, a status write, a read, a
    watch. None of them reaches the server before the second it asked for has passed."""
    api.answer(
        "PATCH",
        f"{CONFIGMAPS}/a",
        429,
        status(429, "TooManyRequests", "Too many requests, please try again later."),
        headers={"Retry-After": "1"},
    )
    with pytest.raises(ApiError) as caught:
        await client.request("PATCH", f"{CONFIGMAPS}/a", body={}, content_type="application/merge-patch+json")
    assert caught.value.retry_after == 1
    await client.request("POST", CONFIGMAPS, body={"metadata": {"name": "event-like"}})
    await client.request("GET", CONFIGMAPS)

    async def watch() -> list[JSON]:
        stream = client.stream(CONFIGMAPS, {"watch": "1", "timeoutSeconds": "5"})
        async with contextlib.aclosing(stream) as events:
            return [event async for event in events]

    watching = asyncio.create_task(watch())
    await eventually(lambda: _count(api), until=lambda n: n == 1, within=5, what="the watch open")
    api.end_watches()
    assert await watching == []
    refused, *after = api.requests
    assert refused.method == "PATCH"
    assert [r.method for r in after] == ["POST", "GET", "GET"]
    assert all(r.at - refused.at >= 1.0 for r in after), [round(r.at - refused.at, 3) for r in after]


async def test_a_request_after_the_pause_goes_at_once(api: FakeApi, client: KubeClient) -> None:
    api.answer("GET", CONFIGMAPS, 429, status(429, "TooManyRequests", "slow"), headers={"Retry-After": "0"})
    with pytest.raises(ApiError):
        await client.request("GET", CONFIGMAPS)
    assert (await client.request("GET", CONFIGMAPS))["items"] == []
    assert client.gate.remaining() == 0

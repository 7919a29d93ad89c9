"""Events aggregate: a repeat within a minute is counted, not posted; the next one after it stands for all."""

from __future__ import annotations

from typing import Any, cast

import pytest

from webstack_operator.config.operator_settings import OperatorSettings
from webstack_operator.config.run_options import OperatorConfig
from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.kube.events import FORGET_AFTER_SECONDS, WINDOW_SECONDS, EventRecorder
from webstack_operator.observe.cache import ChildCache
from webstack_operator.reconcile.decisions import Event
from webstack_operator.reconcile.reconciler import Reconciler

STACK: dict[str, Any] = {"metadata": {"name": "shop", "namespace": "team", "uid": "stack-uid"}}
OTHER: dict[str, Any] = {"metadata": {"name": "cart", "namespace": "team", "uid": "other-uid"}}
FIGHT = Event("Warning", "DriftCorrected", "Deployment shop-backend was changed by someone else; restored it")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class EventsApi:
    """Answers Event POSTs (or fails them with `fail`)."""

    field_manager = "kube-tests"

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, Any]] = []
        self.fail: int | None = None

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> dict[str, Any]:
        self.sent.append((method, path, body))
        if self.fail is not None:
            raise ApiError(self.fail, "TooManyRequests", "slow down", method, path)
        return {"metadata": {"name": f"shop.{len(self.sent)}", "namespace": "team"}}


def recorder() -> tuple[EventRecorder, EventsApi, Clock]:
    api, clock = EventsApi(), Clock()
    return EventRecorder(cast(KubeClient, api), "replica-a", clock=clock), api, clock


async def say(
    events: EventRecorder, event: Event = FIGHT, involved: dict[str, Any] = STACK, now: str = "04:00:00"
) -> None:
    await events.record(involved, event.type, event.reason, event.message, now=now)


async def test_a_fight_with_another_writer_posts_one_event_per_object_and_reason_per_minute() -> None:
    """Through the reconciler's `tell`, as every reconcile of a fought-over child says it."""
    api = EventsApi()
    reconciler = Reconciler(cast(KubeClient, api), OperatorConfig(settings=OperatorSettings()), ChildCache())
    for _ in range(10):  # ten reconciles in a few seconds, each restoring the same Deployment
        await reconciler.tell(STACK, FIGHT)
    assert [(method, path) for method, path, _ in api.sent] == [("POST", "/api/v1/namespaces/team/events")]


async def test_the_first_repeat_after_the_window_posts_one_event_counting_the_held_ones() -> None:
    events, api, clock = recorder()
    await say(events, now="04:00:00")
    for second in (10, 20, 30, 40):
        clock.now += 10
        await say(events, now=f"04:00:{second}")
    assert len(api.sent) == 1
    assert (api.sent[0][2]["count"], api.sent[0][2]["firstTimestamp"]) == (1, "04:00:00")
    clock.now += WINDOW_SECONDS - 40 + 0.1
    await say(events, now="04:01:01")
    method, path, posted = api.sent[-1]
    assert (method, path) == ("POST", "/api/v1/namespaces/team/events")
    assert (posted["count"], posted["firstTimestamp"], posted["lastTimestamp"]) == (5, "04:00:10", "04:01:01")
    assert posted["reason"] == FIGHT.reason and posted["message"] == FIGHT.message
    clock.now += 1
    await say(events)  # the window starts again at that post
    assert len(api.sent) == 2


async def test_each_object_and_message_is_its_own_event() -> None:
    """Three children pruned in one reconcile are three Events; two stacks fighting, two."""
    events, api, _ = recorder()
    for name in ("a", "b", "c"):
        await say(events, Event("Normal", "Pruned", f"ConfigMap {name} is no longer desired"))
    await say(events)
    await say(events, involved=OTHER)
    assert [method for method, _, _ in api.sent] == ["POST"] * 5


async def test_a_post_that_failed_is_tried_again_by_the_next_occurrence() -> None:
    events, api, clock = recorder()
    api.fail = 429
    with pytest.raises(ApiError):
        await say(events)
    api.fail = None
    await say(events)  # nothing was posted: at once
    assert [method for method, _, _ in api.sent] == ["POST", "POST"]
    clock.now += WINDOW_SECONDS + 1
    api.fail = 429
    with pytest.raises(ApiError):
        await say(events)
    api.fail = None
    await say(events)  # the failed one is counted in this one
    assert api.sent[-1][2]["count"] == 2


async def test_old_series_are_forgotten() -> None:
    events, _, clock = recorder()
    await say(events)
    await say(events, involved=OTHER)
    assert len(events) == 2
    clock.now += FORGET_AFTER_SECONDS + 1
    await say(events)
    assert len(events) == 1


async def test_an_event_said_once_per_change_is_posted_each_time_it_is_said() -> None:
    """InvalidSpec, Orphaned, CanaryStarted... are said once per change by their callers: said again within
    a minute, it is a new change (a spec broken again the same way) and must not be held back."""
    events, api, _ = recorder()
    broken = Event("Warning", "InvalidSpec", 'spec.ingress.annotations: Invalid value: "bad key!"')
    for _ in range(2):
        await say(events, broken)
        await say(events, Event("Warning", "Orphaned", "kept StatefulSet shop-postgres"))
    assert [body["reason"] for _, _, body in api.sent] == ["InvalidSpec", "Orphaned"] * 2
    assert len(events) == 0  # nothing held for them

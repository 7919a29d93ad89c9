"""ChildWatches against a fake API server: list, watch, resume, relist, retry; which kinds are watched."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import kopf
import pytest
from tests.support.fake_apiserver import BIG, FakeApi, status
from tests.support.polling import eventually

from webstack_operator.kube.client import LIST_PAGE, KubeClient, Resource
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.stamps import FIELD_MANAGER
from webstack_operator.observe.watch import (
    SELECTOR,
    WATCH_SECONDS,
    ChildWatches,
    quiet_end_delay,
    retry_delay,
)

T = TypeVar("T")

CONFIGMAPS = Resource("", "v1", "ConfigMap", "configmaps", namespaced=True)
DEPLOYMENTS = Resource("apps", "v1", "Deployment", "deployments", namespaced=True)
IN_TEAM = "/api/v1/namespaces/team/configmaps"
ALL_CONFIGMAPS = CONFIGMAPS.path()


class Seen:
    """What the watches told the cache, and the retry delays they asked for."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.objects: list[JSON] = []
        self.resyncs: list[list[str]] = []
        self.namespaces: list[str | None] = []  # where each list was
        self.items: list[JSON] = []
        self.failures: list[int] = []
        self.quiet_ends: list[int] = []

    def on_event(self, event_type: str, obj: JSON) -> None:
        self.events.append((event_type, obj["metadata"]["name"]))
        self.objects.append(obj)

    def on_resync(self, resource: Resource, namespace: str | None, items: list[JSON]) -> None:
        self.resyncs.append([item["metadata"]["name"] for item in items])
        self.namespaces.append(namespace)
        self.items.extend(items)

    def backoff(self, failures: int) -> float:
        self.failures.append(failures)
        return 0.01

    def quiet_backoff(self, ends: int) -> float:
        self.quiet_ends.append(ends)
        return 0.01


@pytest.fixture
def seen() -> Seen:
    return Seen()


@pytest.fixture
async def watches(api: FakeApi, seen: Seen) -> AsyncIterator[ChildWatches]:
    client = KubeClient(kopf.ConnectionInfo(server=api.url, token="t"), field_manager=FIELD_MANAGER)
    child_watches = ChildWatches(
        client, seen.on_event, seen.on_resync, backoff=seen.backoff, quiet_backoff=seen.quiet_backoff
    )
    yield child_watches
    await child_watches.close()
    await client.close()


def child(name: str, *, ours: bool = True) -> JSON:
    meta: JSON = {"name": name, "namespace": "team"}
    if ours:
        meta["labels"] = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta}


async def settles(observe: Callable[[], T], until: Callable[[T], bool], what: str) -> T:
    async def probe() -> T:
        return observe()

    return await eventually(probe, until=until, within=5, what=what)


async def watching(api: FakeApi, count: int = 1) -> None:
    await settles(lambda: len(api.watches), lambda n: n == count, f"{count} open watch(es)")


async def reopened(api: FakeApi, count: int) -> None:
    """The `count`th watch request has been made and is open."""
    await settles(lambda: len(watch_versions(api)), lambda n: n == count, f"watch number {count}")
    await watching(api)


def watch_versions(api: FakeApi) -> list[str]:
    return [r.query["resourceVersion"] for r in api.requests_to(ALL_CONFIGMAPS, watch=True)]


def lists(api: FakeApi) -> int:
    return len(api.requests_to(ALL_CONFIGMAPS, watch=False))


# ---------------------------------------------------------------------- list, then watch
async def test_the_first_list_fills_the_cache_then_the_watch_resumes_from_it(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    api.create(IN_TEAM, child("a"))
    api.create(IN_TEAM, child("not-ours", ours=False))
    watches.ensure([CONFIGMAPS])
    await watches.wait_synced(limit=5)
    assert seen.resyncs == [["a"]]
    assert (seen.items[0]["apiVersion"], seen.items[0]["kind"]) == ("v1", "ConfigMap")  # lists omit them
    [listed] = api.requests_to(ALL_CONFIGMAPS, watch=False)
    assert listed.query == {"labelSelector": SELECTOR, "limit": str(LIST_PAGE)}  # in pages
    await watching(api)
    [watch] = api.requests_to(ALL_CONFIGMAPS, watch=True)
    assert watch.query == {
        "watch": "1",
        "labelSelector": SELECTOR,
        "resourceVersion": "102",  # the list's
        "allowWatchBookmarks": "true",
        "timeoutSeconds": str(WATCH_SECONDS),
    }
    assert watch.headers["Authorization"] == "Bearer t"


async def test_events_are_dispatched_with_apiversion_and_kind(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    watches.ensure([CONFIGMAPS])
    await watching(api)
    api.create(IN_TEAM, child("a"))
    api.update(IN_TEAM, {**child("a"), "data": {"k": "v"}})
    api.create(IN_TEAM, child("not-ours", ours=False))
    api.delete(IN_TEAM, "a")
    expected = [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    await settles(lambda: seen.events, lambda e: e == expected, "three events about a")
    assert all((o["apiVersion"], o["kind"]) == ("v1", "ConfigMap") for o in seen.objects)
    assert seen.objects[1]["data"] == {"k": "v"}


async def test_a_watch_ended_by_the_server_resumes_from_the_last_event(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    watches.ensure([CONFIGMAPS])
    await watching(api)
    api.create(IN_TEAM, child("a"))  # revision 101
    await settles(lambda: seen.events, lambda e: e == [("ADDED", "a")], "a added")
    api.end_watches()  # timeoutSeconds reached
    await settles(lambda: watch_versions(api), lambda v: v == ["100", "101"], "a watch from 101")
    assert lists(api) == 1
    assert seen.failures == []


async def test_an_event_larger_than_aiohttps_line_limit_arrives_whole(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    watches.ensure([CONFIGMAPS])
    await watching(api)
    api.create(IN_TEAM, {**child("dashboard"), "data": {"json": "x" * BIG}})
    await settles(lambda: seen.events, lambda e: e == [("ADDED", "dashboard")], "the big ConfigMap")
    assert len(seen.objects[0]["data"]["json"]) == BIG


async def test_a_bookmark_moves_the_resource_version_without_an_event(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    watches.ensure([CONFIGMAPS])
    await watching(api)
    api.create(IN_TEAM, child("not-ours", ours=False))  # revision 101, invisible to the watch
    api.bookmark()
    api.end_watches()
    await settles(lambda: watch_versions(api), lambda v: v == ["100", "101"], "a watch from the bookmark")
    assert seen.events == []
    assert lists(api) == 1


# ---------------------------------------------------------------------- 410 Gone, failures
async def test_an_error_event_410_lists_again(api: FakeApi, seen: Seen, watches: ChildWatches) -> None:
    api.create(IN_TEAM, child("a"))
    watches.ensure([CONFIGMAPS])
    await watching(api)
    api.create(IN_TEAM, child("b"))
    api.expire()  # b's event is queued before the ERROR: both arrive
    await settles(lambda: seen.resyncs, lambda r: r == [["a"], ["a", "b"]], "a second list")
    assert seen.events == [("ADDED", "b")]
    await settles(lambda: watch_versions(api), lambda v: v == ["101", "102"], "a watch from the new list")
    assert seen.failures == []  # expected, not a failure: no backoff


async def test_a_watch_answered_with_http_410_lists_again(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    watches.ensure([CONFIGMAPS])
    await watching(api)
    api.answer("GET", ALL_CONFIGMAPS, 410, status(410, "Expired", "too old resource version"), watch=True)
    api.end_watches()
    await settles(lambda: seen.resyncs, lambda r: len(r) == 2, "a second list")
    await watching(api)
    assert len(watch_versions(api)) == 3  # the first, the refused one, the one after the new list


async def test_transient_failures_are_retried_with_growing_backoff(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    api.answer("GET", ALL_CONFIGMAPS, 503, status(503, "ServiceUnavailable", "etcd leader changed"), times=2)
    watches.ensure([CONFIGMAPS])
    await watches.wait_synced(limit=5)
    assert seen.failures == [1, 2]
    assert lists(api) == 3
    await watching(api)
    api.drop_watches()  # a broken connection: watch again from where it was, no new list
    await settles(lambda: watch_versions(api), lambda v: v == ["100", "100"], "a second watch")
    assert seen.failures == [1, 2, 1]  # the list worked in between: the backoff started over
    assert lists(api) == 3


async def test_a_failing_event_handler_does_not_end_the_watch(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    dispatched = seen.on_event

    def breaks_once(event_type: str, obj: JSON) -> None:
        watches.on_event = dispatched
        raise ValueError("a bug in the cache")

    watches.on_event = breaks_once
    watches.ensure([CONFIGMAPS])
    await watching(api)
    api.create(IN_TEAM, child("a"))
    await settles(lambda: seen.resyncs, lambda r: r == [[], ["a"]], "a list after the failure")
    assert seen.failures == [1]


async def test_a_watch_that_keeps_ending_empty_backs_off_and_an_event_resets_it(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    """A server (or a proxy) that ends every watch at once, cleanly and with nothing in it, was answered
    with a new watch at once: a hot loop (167k reopens a second). Each empty end in a row waits longer."""
    watches.ensure([CONFIGMAPS])
    await watching(api)
    api.answer("GET", ALL_CONFIGMAPS, 200, "", watch=True, times=4, content_type="application/json")
    api.end_watches()
    await reopened(api, 6)  # the sixth watch is a real one again
    assert seen.quiet_ends == [1, 2, 3, 4, 5]
    assert seen.failures == []  # a clean end is no failure
    api.create(IN_TEAM, child("a"))
    await settles(lambda: seen.events, lambda e: e == [("ADDED", "a")], "the event")
    api.end_watches()
    await reopened(api, 7)
    api.end_watches()
    await reopened(api, 8)
    assert seen.quiet_ends == [1, 2, 3, 4, 5, 1]  # the end after an event started the count over


async def test_a_watch_that_keeps_ending_with_an_error_event_backs_off_too(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    """An ERROR event (not 410: a server failing every watch at once) means list again; answered so every
    time, it was a hot loop of lists and watches. Each such end in a row waits longer, like a quiet one."""
    watches.ensure([CONFIGMAPS])
    await watching(api)
    failing = {"type": "ERROR", "object": status(500, "InternalError", "etcd is unavailable")}
    api.answer("GET", ALL_CONFIGMAPS, 200, json.dumps(failing) + "\n", watch=True, times=4,
               content_type="application/json")  # fmt: skip
    api.end_watches()
    await reopened(api, 6)
    assert seen.quiet_ends == [1, 2, 3, 4, 5]
    assert lists(api) == 5  # the first, and one after each ERROR


def test_the_quiet_end_backoff_reopens_at_once_once_then_doubles_up_to_30_seconds() -> None:
    assert [quiet_end_delay(n) for n in (1, 2, 3, 4, 8, 9, 50)] == [0.0, 0.5, 1.0, 2.0, 30.0, 30.0, 30.0]


def test_the_default_backoff_doubles_up_to_30_seconds() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 6, 7, 20)] == [1.0, 2.0, 4.0, 30.0, 30.0, 30.0]


# ---------------------------------------------------------------------- the set of watches
async def test_wait_synced_counts_only_the_kinds_still_watched(api: FakeApi, watches: ChildWatches) -> None:
    deployments = DEPLOYMENTS.path()
    api.answer("GET", deployments, 503, status(503, "ServiceUnavailable", "down"), times=1_000_000)
    watches.ensure([CONFIGMAPS, DEPLOYMENTS])
    with pytest.raises(TimeoutError):
        await watches.wait_synced(limit=0.2)
    watches.ensure([CONFIGMAPS])  # Deployments are no longer served
    await watches.wait_synced(limit=5)


async def test_ensure_starts_stops_and_restarts_watches(api: FakeApi, watches: ChildWatches) -> None:
    configmaps, deployments = ("v1", "ConfigMap", ""), ("apps/v1", "Deployment", "")
    watches.ensure([CONFIGMAPS])
    first = watches.tasks[configmaps]
    watches.ensure([CONFIGMAPS, DEPLOYMENTS])
    assert watches.tasks[configmaps] is first  # a running watch is left alone
    await watches.wait_synced(limit=5)
    await watching(api, 2)

    watches.ensure([DEPLOYMENTS])
    assert set(watches.tasks) == {deployments}
    assert configmaps not in watches.synced  # served again later, it is listed again before it counts
    await settles(lambda: first.done(), bool, "the ConfigMap watch stopped")
    assert first.cancelled()
    await watching(api, 1)

    dead = watches.tasks[deployments]
    dead.cancel()
    await asyncio.gather(dead, return_exceptions=True)
    watches.ensure([DEPLOYMENTS])  # a watch that died is started again
    assert watches.tasks[deployments] is not dead
    await settles(
        lambda: len(api.requests_to(DEPLOYMENTS.path(), watch=False)), lambda n: n == 2, "a new list"
    )


async def test_close_cancels_every_watch(api: FakeApi, watches: ChildWatches) -> None:
    watches.ensure([CONFIGMAPS, DEPLOYMENTS])
    await watching(api, 2)
    tasks = list(watches.tasks.values())
    await watches.close()
    assert all(task.cancelled() for task in tasks)
    await watching(api, 0)  # the server saw both connections close


async def test_a_watch_that_keeps_failing_is_stale_and_a_quiet_one_is_not(
    api: FakeApi, watches: ChildWatches
) -> None:
    api.answer("GET", ALL_CONFIGMAPS, 503, status(503, "ServiceUnavailable", "down"), times=1_000_000)
    deployments = DEPLOYMENTS.path()
    watches.ensure([CONFIGMAPS, DEPLOYMENTS])
    await settles(lambda: api.requests_to(deployments, watch=True), bool, "the Deployment watch open")
    await settles(lambda: watches.stale(0.2), lambda s: s == ["ConfigMap"], "the failing watch stale")
    assert watches.stale(3600) == []  # failing, but not yet for that long
    api.unscript()
    await settles(lambda: watches.stale(0.2), lambda s: s == [], "the watch working again")


async def test_a_quiet_watch_that_is_accepted_again_is_no_longer_stale(
    api: FakeApi, seen: Seen, watches: ChildWatches
) -> None:
    watches.ensure([CONFIGMAPS])
    await watching(api)
    down = status(503, "ServiceUnavailable", "down")
    api.answer("GET", ALL_CONFIGMAPS, 503, down, watch=True, times=3)
    api.drop_watches()
    await settles(lambda: seen.failures, lambda f: len(f) >= 3, "the failed watches")
    await watching(api)  # accepted again, and nothing happens on it
    # The fake API holds the watch open before the client has read its answer and marked it working.
    await settles(lambda: watches.stale(0.0), lambda stale: stale == [], "the watch working again")

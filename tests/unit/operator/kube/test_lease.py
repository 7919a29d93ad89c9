"""Leader election: the pure lease decisions, and electors racing over one in-memory Lease."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from webstack_operator.kube.client import ApiError
from webstack_operator.kube.lease import LeaderElector, LeaseTiming, Step, lease_body, next_step

TIMING = LeaseTiming(duration=15, renew_deadline=10, retry=2)
LEASES = "/apis/coordination.k8s.io/v1/namespaces/ops/leases"


def _lease(holder: str, renew: str = "t0", transitions: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": "op", "namespace": "ops", "resourceVersion": "1"},
        "spec": {
            "holderIdentity": holder,
            "leaseDurationSeconds": 15,
            "renewTime": renew,
            "leaseTransitions": transitions,
        },
    }


def test_next_step() -> None:
    assert next_step(None, "a", unchanged_for=0, timing=TIMING) is Step.CREATE
    assert next_step(_lease("a"), "a", unchanged_for=99, timing=TIMING) is Step.RENEW
    assert next_step(_lease("b"), "a", unchanged_for=5, timing=TIMING) is Step.WAIT
    assert next_step(_lease("b"), "a", unchanged_for=16, timing=TIMING) is Step.TAKE
    assert next_step(_lease(""), "a", unchanged_for=0, timing=TIMING) is Step.TAKE  # released


def test_lease_body_counts_transitions_and_keeps_the_version_for_optimistic_locking() -> None:
    taken = lease_body("ops", "op", "a", "t1", TIMING, _lease("b", transitions=2))
    assert taken["metadata"]["resourceVersion"] == "1"
    assert taken["spec"]["holderIdentity"] == "a"
    assert taken["spec"]["leaseTransitions"] == 3
    assert taken["spec"]["acquireTime"] == taken["spec"]["renewTime"] == "t1"
    mine = _lease("a", transitions=3)
    mine["spec"]["acquireTime"] = "t0"
    renewed = lease_body("ops", "op", "a", "t2", TIMING, mine)
    assert (renewed["spec"]["leaseTransitions"], renewed["spec"]["acquireTime"]) == (3, "t0")
    assert "resourceVersion" not in lease_body("ops", "op", "a", "t0", TIMING, None)["metadata"]


class Store:
    """One Lease with the apiserver's optimistic concurrency: a stale resourceVersion gets 409."""

    def __init__(self) -> None:
        self.lease: dict[str, Any] | None = None
        self.version = 0
        self.down = False
        self.writes: list[str] = []


class FakeClient:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> dict[str, Any]:
        store = self.store
        if store.down:
            raise ApiError(0, "ConnectionError", "refused", method, path)
        if method == "GET":
            if store.lease is None:
                raise ApiError(404, "NotFound", "no lease", method, path)
            return copy.deepcopy(store.lease)
        if method == "POST" and store.lease is not None:
            raise ApiError(409, "AlreadyExists", "exists", method, path)
        if method == "PUT":
            assert store.lease is not None
            if body["metadata"].get("resourceVersion") != store.lease["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", "modified", method, path)
        store.version += 1
        store.lease = copy.deepcopy(body)
        store.lease["metadata"]["resourceVersion"] = str(store.version)
        store.writes.append(body["spec"]["holderIdentity"])
        return copy.deepcopy(store.lease)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _elector(store: Store, me: str, clock: Clock) -> LeaderElector:
    return LeaderElector(FakeClient(store), "ops", "op", me, timing=TIMING, clock=clock)  # type: ignore[arg-type]


async def test_one_of_two_leads_and_the_other_takes_over_only_after_the_lease_expires() -> None:
    store, clock = Store(), Clock()
    a, b = _elector(store, "a", clock), _elector(store, "b", clock)
    assert await a.try_once()
    assert not await b.try_once()
    assert a.may_write() and not b.may_write()
    clock.now += 9  # a stops renewing (killed, or paused)
    assert not await b.try_once()
    clock.now += 2
    assert not a.may_write()  # past the renew deadline: a stops writing before anyone can take over
    assert not await b.try_once()  # ...but the lease is not yet expired for b
    clock.now += 5
    assert await b.try_once()
    assert b.may_write()
    assert store.lease is not None
    assert store.lease["spec"]["leaseTransitions"] == 1
    # a comes back: it sees b's lease and stays a standby
    assert not await a.try_once()
    assert not a.may_write()


async def test_a_leader_keeps_renewing_and_stays_leader() -> None:
    store, clock = Store(), Clock()
    a, b = _elector(store, "a", clock), _elector(store, "b", clock)
    assert await a.try_once()
    for _ in range(20):
        clock.now += TIMING.retry
        assert await a.try_once()
        assert not await b.try_once()
    assert a.may_write()
    assert set(store.writes) == {"a"}


async def test_an_unreachable_api_ends_the_hold_at_the_renew_deadline() -> None:
    store, clock = Store(), Clock()
    a = _elector(store, "a", clock)
    assert await a.try_once()
    store.down = True
    clock.now += 5
    assert await a.try_once()  # still within the deadline: still the holder
    clock.now += 6
    assert not await a.try_once()
    assert not a.may_write()
    store.down = False  # back: nobody else took it, so a takes it back as a new hold
    assert await a.try_once()
    assert a.may_write()


async def test_a_cut_off_holder_cannot_take_back_a_lease_another_replica_took() -> None:
    store, clock = Store(), Clock()
    a, b = _elector(store, "a", clock), _elector(store, "b", clock)
    assert await a.try_once()
    assert not await b.try_once()
    store.down = True
    clock.now += 16
    assert not await a.try_once()
    store.down = False
    assert await b.try_once()  # expired on b's clock: b takes it
    assert not await a.try_once()  # a sees b's name: it waits
    assert not a.may_write()


async def test_two_standbys_racing_for_an_expired_lease_cannot_both_win() -> None:
    store, clock = Store(), Clock()
    gone = _elector(store, "gone", clock)
    assert await gone.try_once()
    b, c = _elector(store, "b", clock), _elector(store, "c", clock)
    await b.try_once()
    await c.try_once()  # both have now seen the lease
    clock.now += 16
    stale = copy.deepcopy(store.lease)
    assert await b.try_once()
    store_after_b = copy.deepcopy(store.lease)
    # c read the lease before b's write (its GET returned `stale`): its PUT carries the old version
    real_request = FakeClient.request

    async def stale_get(self: FakeClient, method: str, path: str, **kw: Any) -> dict[str, Any]:
        if method == "GET":
            return copy.deepcopy(stale)  # type: ignore[arg-type]
        return await real_request(self, method, path, **kw)

    c.client.request = stale_get.__get__(c.client)  # type: ignore[method-assign]
    assert not await c.try_once()
    assert store.lease == store_after_b


@pytest.mark.parametrize("holder", ["a"])
async def test_hold_returns_when_another_replica_holds_the_lease(holder: str) -> None:
    store, clock = Store(), Clock()
    a = _elector(store, holder, clock)
    assert await a.try_once()
    assert store.lease is not None
    store.lease["spec"]["holderIdentity"] = "intruder"
    assert not await a.try_once()
    assert not a.may_write()


async def test_a_clean_stop_releases_the_lease_and_a_standby_takes_it_at_once() -> None:
    store, clock = Store(), Clock()
    a, b = _elector(store, "a", clock), _elector(store, "b", clock)
    assert await a.try_once()
    assert not await b.try_once()
    await a.release()
    assert not a.may_write()
    assert store.lease is not None
    assert store.lease["spec"]["holderIdentity"] is None
    assert await b.try_once()  # no waiting for expiry
    await a.release()  # not the holder: leaves b's lease alone
    assert store.lease["spec"]["holderIdentity"] == "b"

"""Deletion, reconcile and status writes of one stack go through one serialisation point (the work queue).

A reconcile in flight when the WebStack is deleted could apply the Velero Schedule after the finalizer
deleted it: an orphan Schedule backing up a deleted stack. The finalizer waits for that reconcile, and no
reconcile of the stack runs while it works, nor writes after it began.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from tests.support.polling import eventually

from webstack_operator.config.run_options import OperatorConfig
from webstack_operator.controller import wiring
from webstack_operator.controller.wiring import Controller
from webstack_operator.kube.client import KubeClient
from webstack_operator.kube.jsondata import JSON
from webstack_operator.reconcile.outcomes import Retry
from webstack_operator.reconcile.reconciler import Reconciler

STACK = ("team", "shop")


def webstack(*, deleting: bool = False, rv: str = "1") -> JSON:
    meta: JSON = {"name": "shop", "namespace": "team", "uid": "uid-1", "resourceVersion": rv, "generation": 1}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"apiVersion": "webstack.dev/v1alpha1", "kind": "WebStack", "metadata": meta, "spec": {}}


class World:
    """What reached the cluster, in order; a reconcile's write waits for `release` (a slow apiserver)."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.reconciling = asyncio.Event()
        self.release = asyncio.Event()
        self.finalizing = asyncio.Event()
        self.finish = asyncio.Event()

    async def reconcile(self, reconciler: Reconciler, stack: Any, attempt: int = 1) -> str:
        """The real reconcile's guard, then a write that takes its time."""
        body = reconciler.bodies.get(stack)
        if body is None or body["metadata"].get("deletionTimestamp"):
            return "Pending"
        self.log.append("reconcile started")
        self.reconciling.set()
        await self.release.wait()
        self.log.append("Schedule applied")
        return "Ready"

    async def finalize(self, *_: Any, **__: Any) -> None:
        self.log.append("finalizer started")
        self.finalizing.set()
        await self.finish.wait()
        self.log.append("Schedule deleted")


@pytest.fixture
def world(monkeypatch: pytest.MonkeyPatch) -> World:
    world = World()

    async def reconcile(reconciler: Reconciler, stack: Any, attempt: int = 1) -> str:
        return await world.reconcile(reconciler, stack, attempt)

    monkeypatch.setattr(Reconciler, "reconcile", reconcile)
    monkeypatch.setattr(wiring, "finalize", world.finalize)
    return world


async def _until(what: str, predicate: Any) -> None:
    async def probe() -> bool:
        return bool(predicate())

    await eventually(probe, until=bool, within=5, what=what)


async def test_the_finalizer_waits_for_a_reconcile_in_flight_and_nothing_is_written_after_it(
    world: World,
) -> None:
    ctl = Controller(cast(KubeClient, object()), OperatorConfig(debounce_seconds=0))
    ctl.queue.start()
    try:
        ctl.stack_seen(webstack(), reconcile=True)
        await world.reconciling.wait()
        finalizer = asyncio.create_task(ctl.finalize(webstack(deleting=True, rv="2"), attempt=1))
        await asyncio.sleep(0.05)
        assert world.log == ["reconcile started"], "the finalizer began beside a reconcile in flight"
        world.release.set()
        await world.finalizing.wait()
        # A child's event and the resync while the finalizer works: nothing runs beside it.
        ctl.queue.enqueue(STACK)
        await ctl._resync()
        await asyncio.sleep(0.05)
        world.finish.set()
        await finalizer
        ctl.queue.enqueue(STACK)  # a late event of the deleted stack
        await _until("the queue idle", lambda: len(ctl.queue) == 0)
        assert world.log == ["reconcile started", "Schedule applied", "finalizer started", "Schedule deleted"]
        assert STACK not in ctl.reconciler.bodies
    finally:
        await ctl.close()


async def test_a_reconcile_between_two_attempts_of_the_finalizer_writes_nothing(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A finalizer that failed (kopf retries it later) has marked the stack: nothing else is written."""

    async def failing(*_: Any, **__: Any) -> None:
        world.log.append("finalizer failed")
        raise Retry("cleanup failed: 503", delay=1)

    ctl = Controller(cast(KubeClient, object()), OperatorConfig(debounce_seconds=0))
    ctl.queue.start()
    try:
        ctl.stack_seen(webstack(), reconcile=False)
        monkeypatch.setattr(wiring, "finalize", failing)
        world.release.set()
        with pytest.raises(Retry):
            await ctl.finalize(webstack(deleting=True, rv="2"), attempt=1)
        ctl.stack_seen(webstack(rv="1"), reconcile=True)  # an older body, delivered late
        ctl.queue.enqueue(STACK)
        await _until("the queue idle", lambda: len(ctl.queue) == 0)
        assert world.log == ["finalizer failed"]
    finally:
        await ctl.close()

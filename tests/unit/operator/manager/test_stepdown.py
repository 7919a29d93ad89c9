"""A replica that loses the Lease steps down cleanly: healthy again at once, holding nothing of its term.

The term is run as `runtime.py` runs it, with the real handlers and Controller against the fake API server;
only kopf's operator is stood in for (it would need a cluster): it calls the startup handler, waits for its
stop flag and, like kopf, calls the cleanup handler — or, like a kopf that did not stop in time, is
cancelled without it.
"""

from __future__ import annotations

import asyncio
import gc
import weakref
from collections.abc import AsyncIterator
from typing import Any, cast

import kopf
import pytest
from tests.support.fake_apiserver import FakeApi
from tests.support.polling import eventually

from webstack_operator.config.run_options import OperatorConfig
from webstack_operator.controller import handlers
from webstack_operator.controller.wiring import Controller
from webstack_operator.kube.client import KubeClient
from webstack_operator.kube.lease import LeaderElector
from webstack_operator.manager import runtime
from webstack_operator.manager.health import Health
from webstack_operator.objects.stamps import FIELD_MANAGER
from webstack_operator.telemetry import metric_names, metrics

CONFIG = OperatorConfig(liveness_port=0, metrics_port=0, resync_seconds=300, discovery_seconds=0.05)
# What a term of leadership runs, by coroutine name: none of it may outlive the term.
TERM_TASKS = ("_worker", "_loop", "_every", "_start_queue_when_synced", "fake_operator", "_run_kopf")


class Elector:
    """Leads once (until `lose` is set), then stands by for good."""

    def __init__(self) -> None:
        self.lose = asyncio.Event()
        self.terms = 0
        self.standing_by = asyncio.Event()

    async def acquire(self) -> None:
        self.terms += 1
        if self.terms > 1:
            self.standing_by.set()
            await asyncio.Event().wait()

    async def hold(self) -> None:
        await self.lose.wait()


class Term:
    """What the stand-in for kopf saw of the term: the controller, weakly."""

    def __init__(self, *, cleans_up: bool) -> None:
        self.cleans_up = cleans_up
        self.controller: weakref.ref[Controller] | None = None
        self.started = asyncio.Event()

    async def fake_operator(
        self, *, stop_flag: asyncio.Event, ready_flag: asyncio.Event, memo: kopf.Memo, **_: Any
    ) -> None:
        await handlers.startup(settings=kopf.OperatorSettings(), memo=memo)
        self.controller = weakref.ref(memo.controller)
        ready_flag.set()
        self.started.set()
        if not self.cleans_up:
            await asyncio.Event().wait()  # deaf to the stop flag: cancelled after KOPF_STOP_SECONDS
        await stop_flag.wait()
        await handlers.cleanup(memo=memo)


@pytest.fixture
async def client() -> AsyncIterator[KubeClient]:
    async with FakeApi() as api:
        client = KubeClient(kopf.ConnectionInfo(server=api.url, token="t"), field_manager=FIELD_MANAGER)
        yield client
        await client.close()


def _term_tasks() -> list[str]:
    names = (getattr(t.get_coro(), "__qualname__", "") for t in asyncio.all_tasks() if not t.done())
    return sorted(n for n in names if n.split(".")[-1] in TERM_TASKS)


def _sample(name: str) -> float:
    return metrics.REGISTRY.get_sample_value(name) or 0.0


@pytest.mark.parametrize("cleans_up", [True, False], ids=["kopf-cleans-up", "kopf-cancelled"])
async def test_a_replica_that_stepped_down_is_healthy_and_holds_nothing_of_its_term(
    client: KubeClient, monkeypatch: pytest.MonkeyPatch, cleans_up: bool
) -> None:
    term, elector, health, terminate = Term(cleans_up=cleans_up), Elector(), Health(), asyncio.Event()
    monkeypatch.setattr(kopf, "operator", term.fake_operator)
    monkeypatch.setattr(runtime, "_on_signals", lambda callback: None)
    monkeypatch.setattr(runtime, "KOPF_STOP_SECONDS", 0.2)
    assert health.problems() == []  # a standby is healthy
    lead = asyncio.create_task(
        runtime._lead_while_elected(CONFIG, client, health, cast(LeaderElector, elector), terminate)
    )
    try:
        await _started_or_failed(term, lead)
        assert term.controller is not None
        await eventually(lambda: _ready(term), until=bool, within=10, what="the leader's queue")
        assert health.role == "leader" and health.checks and health.notices
        assert _term_tasks(), "the term runs its loops (else this test proves nothing)"

        elector.lose.set()  # the Lease is lost
        await asyncio.wait_for(elector.standing_by.wait(), 5)

        assert health.role == "standby"
        assert (health.checks, health.notices) == ([], [])
        assert health.problems() == []
        assert _term_tasks() == []
        gc.collect()
        assert term.controller() is None, gc.get_referrers(term.controller())
        assert _sample(metric_names.CACHED_CHILDREN) == _sample(metric_names.QUEUE_DEPTH) == 0
    finally:
        terminate.set()
        await asyncio.wait_for(lead, 5)


async def _started_or_failed(term: Term, lead: asyncio.Task[None]) -> None:
    """Bounded: a term that fails before it starts ends `lead` with its error instead of hanging here."""
    started = asyncio.ensure_future(term.started.wait())
    done, _ = await asyncio.wait({started, lead}, timeout=10, return_when=asyncio.FIRST_COMPLETED)
    if started not in done:
        started.cancel()
        if lead in done:
            lead.result()  # its error, if it raised
        raise AssertionError(f"the term did not start within 10 s (lead done: {lead in done})")


async def _ready(term: Term) -> bool:
    controller = term.controller() if term.controller is not None else None
    return controller is not None and bool(controller.queue._workers)

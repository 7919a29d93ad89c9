"""A stack deleted while its status is being written leaves nothing behind.

Its phase gauge (`webstack_stacks`, which the "stacks Failed" alert reads) and its body (which the resync
enqueues) are dropped when the stack is deleted; a status write still in flight, or one a reconcile in
flight starts afterwards, must not bring either back.
"""

from __future__ import annotations

import asyncio
from typing import Any, cast

from webstack_operator.config.operator_settings import OperatorSettings
from webstack_operator.config.run_options import OperatorConfig
from webstack_operator.kube.client import KubeClient, Resource
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.cache import ChildCache
from webstack_operator.reconcile.reconciler import Reconciler
from webstack_operator.telemetry import metric_names, metrics

STACK = ("team", "ghost")
WEBSTACKS = Resource("webstack.dev", "v1alpha1", "WebStack", "webstacks", namespaced=True)
FAILED: JSON = {"phase": "Failed", "observedGeneration": 1, "conditions": []}


def webstack(uid: str = "uid-1") -> JSON:
    meta = {"name": "ghost", "namespace": "team", "uid": uid, "resourceVersion": "1", "generation": 1}
    return {"apiVersion": "webstack.dev/v1alpha1", "kind": "WebStack", "metadata": meta, "spec": {}}


class SlowStatusClient:
    """The status PATCH waits for `answer`, then returns the object as the apiserver would."""

    def __init__(self) -> None:
        self.in_flight = asyncio.Event()
        self.answer = asyncio.Event()
        self.patches: list[str] = []

    def resource(self, api_version: str, kind: str) -> Resource:
        return WEBSTACKS

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> JSON:
        if path.endswith("/events"):
            return {}
        self.patches.append(path)
        self.in_flight.set()
        await self.answer.wait()
        return {**webstack(), "metadata": {**webstack()["metadata"], "resourceVersion": "2"}, **body}


def failed_stacks() -> float:
    value = metrics.REGISTRY.get_sample_value(metric_names.STACKS, {"phase": "Failed"})
    return value or 0.0


def reconciler(client: SlowStatusClient) -> Reconciler:
    config = OperatorConfig(settings=OperatorSettings())
    return Reconciler(cast(KubeClient, client), config, ChildCache())


async def test_a_status_write_in_flight_when_the_stack_is_deleted_leaves_no_ghost() -> None:
    client = SlowStatusClient()
    r = reconciler(client)
    before = failed_stacks()
    r.remember(webstack())
    write = asyncio.create_task(r._write_status(STACK, webstack(), FAILED))
    await client.in_flight.wait()
    r.forget(STACK)  # kopf's DELETED event, while the PATCH is on its way
    client.answer.set()
    await write
    assert STACK not in r.bodies, "the resync would enqueue a ghost"
    assert failed_stacks() == before, "the stacks-Failed alert would stick"


async def test_a_status_write_begun_after_the_stack_was_deleted_is_not_made() -> None:
    """A reconcile in flight (applying children) when the stack went reaches its status write later."""
    client = SlowStatusClient()
    client.answer.set()
    r = reconciler(client)
    before = failed_stacks()
    r.remember(webstack())
    r.forget(STACK)
    await r._write_status(STACK, webstack(), FAILED)
    assert STACK not in r.bodies
    assert failed_stacks() == before
    assert client.patches == []


async def test_a_status_write_of_a_deleted_stack_does_not_land_on_its_successor() -> None:
    """Deleted and created again under the same name meanwhile: the old run writes nothing of its own."""
    client = SlowStatusClient()
    client.answer.set()
    r = reconciler(client)
    r.remember(webstack("uid-1"))
    r.forget(STACK)
    r.remember(webstack("uid-2"))
    await r._write_status(STACK, webstack("uid-1"), FAILED)
    assert client.patches == []
    assert r.bodies[STACK]["metadata"]["uid"] == "uid-2"

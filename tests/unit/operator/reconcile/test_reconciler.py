"""One write of the reconcile, with the watch racing it: what is reported comes from what we knew before."""

from __future__ import annotations

import time
from typing import Any, cast

import pytest

from webstack_operator.config.operator_settings import OperatorSettings
from webstack_operator.config.run_options import OperatorConfig
from webstack_operator.kube.client import KubeClient, Resource
from webstack_operator.objects import labels
from webstack_operator.objects.stamps import FIELD_MANAGER, Applied, key_of, stamped
from webstack_operator.observe.cache import ChildCache
from webstack_operator.reconcile.decisions import to_write
from webstack_operator.reconcile.reconciler import Reconciler
from webstack_operator.telemetry import metric_names, metrics

STACK = ("team", "shop")
SERVICES = Resource("", "v1", "Service", "services", namespaced=True)


def _service(uid: str, rv: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "shop-backend",
            "namespace": "team",
            "uid": uid,
            "resourceVersion": rv,
            "labels": {labels.INSTANCE: "shop", labels.MANAGED_BY: labels.MANAGED_BY_VALUE},
            "ownerReferences": [
                {
                    "apiVersion": "webstack.dev/v1alpha1",
                    "kind": "WebStack",
                    "name": "shop",
                    "uid": "stack-uid",
                    "controller": True,
                }
            ],
        },
    }


class RacingClient:
    """Answers an apply with a new object, and lets the 'watch' report it before the answer arrives."""

    field_manager = FIELD_MANAGER

    def __init__(self, cache: ChildCache) -> None:
        self.cache = cache
        self.events: list[dict[str, Any]] = []

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> dict[str, Any]:
        if path.endswith("/events"):
            self.events.append(body)
            return {}
        result = _service("uid-2", "20")
        self.cache.upsert(result)  # the watch's ADDED event, processed while our request was in flight
        return result


async def test_a_recreate_is_reported_as_drift_even_when_the_watch_reports_it_first() -> None:
    cache = ChildCache()
    cache.track(STACK, "stack-uid")
    cache.wrote(STACK, _service("uid-1", "10"), Applied("h", "", "10", "uid-1"))
    cache.remove(_service("uid-1", "11"))  # someone deleted it: a tombstone
    client = RacingClient(cache)
    config = OperatorConfig(settings=OperatorSettings())
    reconciler = Reconciler(cast(KubeClient, client), config, cache)
    owner = {"metadata": {"name": "shop", "namespace": "team", "uid": "stack-uid"}}
    await reconciler._write(STACK, owner, _desired(), SERVICES)
    assert [(e["reason"], e["message"]) for e in client.events] == [
        ("DriftCorrected", "Service shop-backend was deleted; recreated it")
    ]
    assert not cache.deleted_by_someone(STACK, key_of(_desired()))


def _desired() -> dict[str, Any]:
    desired = _service("", "")
    del desired["metadata"]["uid"], desired["metadata"]["resourceVersion"]
    return desired


async def test_a_finished_reconcile_stamps_its_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the WebStackOperatorNotReconciling alert reads."""
    cache = ChildCache()
    reconciler = Reconciler(
        cast(KubeClient, RacingClient(cache)), OperatorConfig(settings=OperatorSettings()), cache
    )
    reconciler.remember({"metadata": {"name": "shop", "namespace": "team", "resourceVersion": "1"}})

    async def recipe(*_: Any) -> str:
        return "Ready"

    monkeypatch.setattr(reconciler, "_recipe", recipe)
    metrics.LAST_RECONCILE.set(0)
    before = time.time()
    assert await reconciler.reconcile(STACK) == "Ready"
    stamped = metrics.REGISTRY.get_sample_value(metric_names.LAST_RECONCILE_TIMESTAMP_SECONDS)
    assert stamped is not None and before <= stamped <= time.time()


class AnsweringClient:
    """Answers an apply with the applied body as the apiserver would store it, at the next version."""

    field_manager = FIELD_MANAGER

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.applied: list[dict[str, Any]] = []

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> dict[str, Any]:
        if path.endswith("/events"):
            self.events.append(body)
            return {}
        self.applied.append(body)
        meta = {**body["metadata"], "uid": "uid-1", "resourceVersion": "30"}
        meta["managedFields"] = [{"manager": "webstack-operator", "operation": "Apply", "fieldsV1": {"f": 2}}]
        return {**body, "metadata": meta}


def _backend_service(selector: dict[str, str], target: str | int = "http") -> dict[str, Any]:
    service = _desired()
    service["spec"] = {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": target}]}
    return service


async def _rewrite_after(someone_changed: dict[str, Any], desired: dict[str, Any]) -> list[tuple[str, str]]:
    """We applied the hash-less Service; `someone_changed` it (taking fields we owned); the reconcile
    writes `desired`. Returns the Events it posted."""
    cache = ChildCache()
    cache.track(STACK, "stack-uid")
    first = _backend_service({labels.INSTANCE: "shop"})
    body, h = stamped(first)
    live = {**body, "metadata": {**body["metadata"], "uid": "uid-1", "resourceVersion": "10"}}
    cache.wrote(STACK, live, Applied(h, "ours-before", "10", "uid-1"))
    changed = {**someone_changed, "metadata": {**live["metadata"], "resourceVersion": "20"}}
    cache.upsert(changed)
    assert to_write([desired], cache, STACK, {("v1", "Service")}) == [desired]
    client = AnsweringClient()
    reconciler = Reconciler(cast(KubeClient, client), OperatorConfig(settings=OperatorSettings()), cache)
    owner = {"metadata": {"name": "shop", "namespace": "team", "uid": "stack-uid"}}
    await reconciler._write(STACK, owner, desired, SERVICES)
    assert client.applied[0]["spec"] == desired["spec"]
    return [(e["reason"], e["message"]) for e in client.events]


async def test_argo_rollouts_narrowing_the_selector_is_followed_not_corrected() -> None:
    """Argo adds its key: the next render carries it (observed), so the write is an update equal to what
    is there, not drift, and it keeps Argo's key."""
    argo = _backend_service({labels.INSTANCE: "shop", "rollouts-pod-template-hash": "abc"})
    events = await _rewrite_after(argo, argo)
    assert events == [("Updated", "Service shop-backend")]


async def test_someone_changing_a_target_port_is_still_drift_and_restored() -> None:
    """Their update takes a field we own (our managed-fields hash changes) while the desired content is the
    same: a correction, announced as one."""
    original = _backend_service({labels.INSTANCE: "shop"})
    events = await _rewrite_after(_backend_service({labels.INSTANCE: "shop"}, target=8080), original)
    assert events == [("DriftCorrected", "Service shop-backend was changed by someone else; restored it")]

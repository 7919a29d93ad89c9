"""A generation the apiserver refused: a later reconcile of it (a child event, the resync, a restart that
knows it only from status) writes nothing of it, and a failed retry does not replace the refusal in status."""

from __future__ import annotations

from typing import Any, cast

import pytest

from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.config.run_options import OperatorConfig, load_settings
from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.objects.kinds import CHILD_KINDS
from webstack_operator.objects.stamps import FIELD_MANAGER
from webstack_operator.observe.cache import ChildCache
from webstack_operator.reconcile.outcomes import Retry
from webstack_operator.reconcile.reconciler import Reconciler

STACK = ("team", "shop")
SPEC = {
    "backend": {"image": "ghcr.io/webstack-dev/users-api:0.1.0", "replicas": 3},
    "ingress": {"enabled": True, "host": "shop.example.com", "annotations": {"bad key!": "x"}},
}
REFUSED_STATUS = {
    "phase": "Failed",
    "observedGeneration": 2,
    "conditions": [
        {"type": "Ready", "status": "False", "reason": "InvalidSpec", "observedGeneration": 2},
        {"type": "Reconciled", "status": "False", "reason": "InvalidSpec", "observedGeneration": 2},
    ],
}


class RefusingClient:
    """An apiserver that refuses one object (the Ingress, for its annotation key), holds no child yet, and
    records every request; `failure` makes that object's answer this error instead."""

    field_manager = FIELD_MANAGER

    def __init__(
        self, failure: ApiError | None = None, refused: tuple[str, str] = ("Ingress", "shop")
    ) -> None:
        self.failure = failure or ApiError(422, "Invalid", 'metadata.annotations: Invalid value: "bad key!"')
        self.refused = refused  # kind, name
        self.requests: list[tuple[str, str, bool]] = []  # method, path, dry run

    def resource(self, api_version: str, kind: str) -> Resource:
        group, _, version = api_version.rpartition("/")
        return Resource(group, version, kind, kind.lower() + "s", namespaced=True)

    async def request(
        self, method: str, path: str, *, body: Any = None, params: Any = None, **_: Any
    ) -> dict[str, Any]:
        dry_run = (params or {}).get("dryRun") == "All"
        self.requests.append((method, path, dry_run))
        if method == "GET":
            raise ApiError(404, "NotFound", "not found", method, path)
        if ((body or {}).get("kind"), (body or {}).get("metadata", {}).get("name")) == self.refused:
            raise self.failure
        if path.endswith("/status"):
            return {"metadata": {"name": "shop", "namespace": "team", "uid": "stack-uid"}, **body}
        meta = {**(body or {}).get("metadata", {}), "uid": "u-" + path, "resourceVersion": "1"}
        return {**(body or {}), "metadata": meta}

    def writes(self) -> list[tuple[str, str]]:
        """Requests that change a child (not Events, not the WebStack's status)."""
        return [
            (m, p)
            for m, p, dry in self.requests
            if m in ("POST", "PATCH", "PUT", "DELETE")
            and not dry
            and not p.endswith("/events")
            and "/webstacks/" not in p
        ]

    def status_writes(self) -> list[str]:
        return [p for m, p, _ in self.requests if m == "PATCH" and p.endswith("/status")]


def _reconciler(client: RefusingClient, status: dict[str, Any] = REFUSED_STATUS) -> Reconciler:
    cache = ChildCache()
    cache.track(STACK, "stack-uid")
    config = OperatorConfig(settings=load_settings({}))
    reconciler = Reconciler(cast(KubeClient, client), config, cache, capabilities=Capabilities())
    reconciler.served = frozenset((k.api_version, k.kind) for k in CHILD_KINDS)
    reconciler.remember(
        {
            "apiVersion": "webstack.dev/v1alpha1",
            "kind": "WebStack",
            "metadata": {"name": "shop", "namespace": "team", "uid": "stack-uid", "generation": 2},
            "spec": SPEC,
            "status": status,
        }
    )
    return reconciler


async def test_a_later_reconcile_of_a_refused_generation_writes_nothing_of_it() -> None:
    """observedGeneration already equals the generation (the refusal was reported); the next reconcile
    must check the generation whole again rather than write every object before the refused one."""
    client = RefusingClient()
    assert await _reconciler(client).reconcile(STACK) == "Failed"
    assert client.writes() == []
    assert any(dry and "/ingress" in p for _, p, dry in client.requests)  # checked again, dry


async def test_a_failed_recheck_keeps_the_refusal_in_status() -> None:
    """A transient failure while checking again is retried, but never reported over the refusal: status
    is the only memory of it a restart keeps."""
    client = RefusingClient(ApiError(503, "ServiceUnavailable", "etcd is busy"))
    with pytest.raises(Retry):
        await _reconciler(client).reconcile(STACK, attempt=3)  # the attempt that reports a failure
    assert client.writes() == []
    assert client.status_writes() == []


async def test_a_new_generation_whose_held_backend_is_refused_writes_nothing() -> None:
    """The backend waits for its migration Job (no backend runs yet), so it is not written in this
    reconcile; it is still checked with the rest, or the Job and every other object would be written
    before the apiserver refuses the backend later."""
    client = RefusingClient(refused=("Deployment", "shop-backend"))
    accepted_before = {"phase": "Ready", "observedGeneration": 1, "conditions": []}
    assert await _reconciler(client, accepted_before).reconcile(STACK) == "Failed"
    assert client.writes() == []
    assert any(dry and p.endswith("/deployments/shop-backend") for _, p, dry in client.requests)

"""A stack whose generation the apiserver refused: an apiserver that refuses one of its objects, and a
reconciler that already reported the refusal in status (or, given another status, not yet).

For the tests of what a refused generation may still write (nothing of it), and of the hand-over turn it
must let go.
"""

from __future__ import annotations

from typing import Any, cast

from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.config.run_options import OperatorConfig, load_settings
from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.objects.kinds import CHILD_KINDS
from webstack_operator.objects.stamps import FIELD_MANAGER
from webstack_operator.observe.cache import ChildCache
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


def refused_reconciler(client: RefusingClient, status: dict[str, Any] = REFUSED_STATUS) -> Reconciler:
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

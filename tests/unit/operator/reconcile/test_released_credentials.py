"""The generated database Secret under `deletionPolicy: Retain` (the default) has no owner reference, so it is
no child of the cache's; an edit that stops rendering it still lets it go and names it, as under `Delete`."""

from __future__ import annotations

from typing import Any, cast

from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.config.run_options import OperatorConfig, load_settings
from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.objects import labels
from webstack_operator.objects.kinds import CHILD_KINDS
from webstack_operator.objects.stamps import FIELD_MANAGER
from webstack_operator.observe.cache import ChildCache
from webstack_operator.reconcile.reconciler import Reconciler
from webstack_operator.reconcile.transitions import ORPHANED_FROM

STACK, UID = ("team", "shop"), "stack-uid"
SECRETS = "/api/v1/namespaces/team/secrets/shop-postgres"
EXTERNAL = {
    "backend": {"image": "ghcr.io/webstack-dev/users-api:0.1.0"},
    "database": {"mode": "External", "credentials": {"secretRef": {"name": "rds"}}},
}


def _secret(**meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": "shop-postgres",
            "namespace": "team",
            "uid": "secret-uid",
            "resourceVersion": "3",
            "labels": labels.standard_labels("shop", labels.DATABASE),
            "annotations": {"webstack.dev/generated": "true"},
            **meta,
        },
        "data": {"password": "c2VjcmV0"},
    }


class Client:
    """Answers every write with what it was sent (a merge patch merged into the Secret it knows)."""

    field_manager = FIELD_MANAGER

    def __init__(self, secret: dict[str, Any]) -> None:
        self.secret = secret
        self.requests: list[tuple[str, str, Any]] = []

    def resource(self, api_version: str, kind: str) -> Resource:
        group, _, version = api_version.rpartition("/")
        return Resource(group, version, kind, kind.lower() + "s", namespaced=True)

    async def request(self, method: str, path: str, *, body: Any = None, **_: Any) -> dict[str, Any]:
        self.requests.append((method, path, body))
        if method == "GET":
            raise ApiError(404, "NotFound", "not found", method, path)
        if method == "PATCH" and path == SECRETS:
            meta = {**self.secret["metadata"], **body["metadata"], "resourceVersion": "4"}
            meta["annotations"] = {
                **self.secret["metadata"]["annotations"],
                **body["metadata"]["annotations"],
            }
            return {**self.secret, "metadata": {k: v for k, v in meta.items() if v is not None}}
        if path.endswith("/status"):
            return {"metadata": {"name": "shop", "namespace": "team", "uid": UID}, **body}
        meta = {**(body or {}).get("metadata", {}), "uid": "u-" + path, "resourceVersion": "1"}
        return {**(body or {}), "metadata": meta}


async def _switch_to_external(secret: dict[str, Any]) -> tuple[Client, Reconciler]:
    client, cache = Client(secret), ChildCache()
    cache.track(STACK, UID)
    cache.upsert(secret)
    reconciler = Reconciler(
        cast(KubeClient, client),
        OperatorConfig(settings=load_settings({})),
        cache,
        capabilities=Capabilities(),
    )
    reconciler.served = frozenset((k.api_version, k.kind) for k in CHILD_KINDS)
    reconciler.remember(
        {
            "apiVersion": "webstack.dev/v1alpha1",
            "kind": "WebStack",
            "metadata": {"name": "shop", "namespace": "team", "uid": UID, "generation": 2},
            "spec": EXTERNAL,
            "status": {"observedGeneration": 1, "conditions": []},
        }
    )
    await reconciler.reconcile(STACK)
    return client, reconciler


async def test_the_retained_generated_secret_is_let_go_and_named_when_the_database_goes_external() -> None:
    client, _ = await _switch_to_external(_secret())
    patches = [b for m, p, b in client.requests if m == "PATCH" and p == SECRETS]
    assert [p["metadata"]["annotations"] for p in patches] == [{ORPHANED_FROM: UID}]
    assert not [p for m, p, _ in client.requests if m == "DELETE" and p == SECRETS]  # never deleted
    events = [b for m, p, b in client.requests if m == "POST" and p.endswith("/events")]
    orphaned = [e for e in events if e.get("reason") == "Orphaned"]
    assert len(orphaned) == 1 and "Secret shop-postgres" in orphaned[0]["message"], events
    assert "kubectl -n team delete secret shop-postgres" in orphaned[0]["message"]
    statuses = [b for m, p, b in client.requests if m == "PATCH" and p.endswith("/status")]
    condition = next(c for c in statuses[-1]["status"]["conditions"] if c["type"] == "Orphaned")
    assert "Secret shop-postgres" in condition["message"]


async def test_a_secret_that_is_not_this_stacks_is_never_let_go() -> None:
    """Another controller's Secret of that name, one not generated, one let go by another WebStack, or
    one in the name of another stack: none is this stack's generated credentials."""
    others = [
        _secret(ownerReferences=[{"uid": "other", "controller": True, "kind": "SealedSecret", "name": "x"}]),
        _secret(annotations={}),
        _secret(annotations={"webstack.dev/generated": "true", ORPHANED_FROM: "an-earlier-uid"}),
        _secret(labels={**labels.standard_labels("shop", labels.DATABASE), labels.STACK_NAMESPACE: "zzz"}),
    ]
    for secret in others:
        client, _ = await _switch_to_external(secret)
        assert not [p for m, p, _ in client.requests if p == SECRETS and m in ("PATCH", "DELETE")], secret

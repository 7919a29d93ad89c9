"""The finalizer's selection: what it deletes outside the stack's namespace is this WebStack's by its UID
label, in the one namespace it writes there; labels naming the stack alone never are."""

from __future__ import annotations

from typing import Any, cast

from webstack_operator.kube.client import ApiError, KubeClient, Resource
from webstack_operator.objects import labels
from webstack_operator.reconcile.decisions import Event
from webstack_operator.reconcile.deletion import CLEANUP_ATTEMPTS, delete_elsewhere, finalize

STACK = ("team", "shop")
SCHEDULES = Resource("velero.io", "v1", "Schedule", "schedules", namespaced=True)


def _schedule(name: str, ns: str, uid: str | None) -> dict[str, Any]:
    lbl = {
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        labels.INSTANCE: "shop",
        labels.STACK_NAMESPACE: "team",
        **({labels.STACK_UID: uid} if uid else {}),
    }
    return {"metadata": {"name": name, "namespace": ns, "uid": f"u-{name}", "labels": lbl}}


class ListingClient:
    """Serves Schedules only; lists what it holds in the namespace asked (every one when none)."""

    def __init__(self, items: list[dict[str, Any]]) -> None:
        self.items = items
        self.deleted: list[str] = []

    def resource(self, api_version: str, kind: str) -> Resource | None:
        return SCHEDULES if (api_version, kind) == ("velero.io/v1", "Schedule") else None

    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        if method == "DELETE":
            self.deleted.append(path.rsplit("/", 3)[-3] + "/" + path.rsplit("/", 1)[-1])
            return {}
        wanted = [i for i in self.items if f"/namespaces/{i['metadata']['namespace']}/" in path + "/"]
        return {"items": [dict(i) for i in (wanted if "/namespaces/" in path else self.items)]}

    async def list_all(self, path: str, params: dict[str, str], **_: Any) -> dict[str, Any]:
        return await self.request("GET", path, params=params)  # one page holds them all


async def test_the_finalizer_deletes_only_this_webstacks_objects_in_the_one_namespace_it_writes() -> None:
    client = ListingClient(
        [
            _schedule("mine", "velero", "stack-uid"),
            _schedule("no-uid", "velero", None),  # labelled for the stack, no UID: not proven ours
            _schedule("earlier", "velero", "old-uid"),  # an earlier WebStack's of the same name
            _schedule("lookalike", "zzz", "stack-uid"),  # another namespace, whatever its labels
        ]
    )
    deleted = await delete_elsewhere(cast(KubeClient, client), STACK, "stack-uid", "velero")
    assert deleted == ["Schedule velero/mine"]
    assert client.deleted == ["velero/mine"]


class FailingClient(ListingClient):
    async def request(self, method: str, path: str, **_: Any) -> dict[str, Any]:
        raise ApiError(503, "ServiceUnavailable", "etcd is busy", method, path)


async def test_given_up_the_finalizer_names_only_this_webstacks_objects_to_delete_by_hand() -> None:
    told: list[Event] = []

    async def tell(event: Event) -> None:
        told.append(event)

    client = cast(KubeClient, FailingClient([]))
    await finalize(client, STACK, "stack-uid", CLEANUP_ATTEMPTS, tell, namespace="velero")
    (abandoned,) = told
    assert abandoned.reason == "CleanupAbandoned"
    assert f"{labels.STACK_UID}=stack-uid" in abandoned.message
    assert abandoned.message.endswith("in namespace velero")

"""The write layer's preconditions: a delete names the very object it means."""

from __future__ import annotations

from typing import Any, cast

import pytest

from webstack_operator.kube.apply import create_once, delete_object, merge_patch, server_side_apply
from webstack_operator.kube.client import ApiError, KubeClient, Resource

SERVICES = Resource("", "v1", "Service", "services", namespaced=True)


class Recorder:
    field_manager = "the-operator"

    def __init__(self, fail: int | None = None) -> None:
        self.fail = fail
        self.calls: list[tuple[str, str, Any, dict[str, Any]]] = []

    async def request(self, method: str, path: str, *, body: Any = None, **kw: Any) -> dict[str, Any]:
        self.calls.append((method, path, body, kw))
        if self.fail is not None:
            raise ApiError(self.fail, "Conflict" if self.fail == 409 else "NotFound", "precondition")
        return {}


async def test_a_delete_carries_a_uid_precondition() -> None:
    client = Recorder()
    assert await delete_object(cast(KubeClient, client), SERVICES, "team", "shop-backend", "uid-1")
    [(method, path, body, _)] = client.calls
    assert (method, path) == ("DELETE", "/api/v1/namespaces/team/services/shop-backend")
    assert body["preconditions"] == {"uid": "uid-1"}
    assert body["propagationPolicy"] == "Background"


@pytest.mark.parametrize("status", [404, 409])
async def test_an_object_gone_or_replaced_under_the_name_is_not_deleted(status: int) -> None:
    client = Recorder(fail=status)
    assert not await delete_object(cast(KubeClient, client), SERVICES, "team", "shop-backend", "uid-1")


async def test_a_merge_patch_names_its_manager() -> None:
    client = Recorder()
    body = {"metadata": {"resourceVersion": "7", "ownerReferences": []}}
    await merge_patch(
        cast(KubeClient, client), SERVICES, "team", "x", body, manager="webstack-operator-actions"
    )
    [(method, _, sent, kw)] = client.calls
    assert method == "PATCH" and sent == body
    assert kw["params"] == {"fieldManager": "webstack-operator-actions"}
    assert kw["content_type"] == "application/merge-patch+json"


async def test_writes_carry_the_clients_field_manager_unless_a_call_names_its_own() -> None:
    """The identity is the caller's, given to the client where it is made; this layer has none."""
    client = Recorder()
    kube = cast(KubeClient, client)
    body = {"metadata": {"name": "x", "namespace": "team"}}
    await server_side_apply(kube, SERVICES, body, dry_run=False)
    await server_side_apply(kube, SERVICES, body, dry_run=True, manager="kubectl")
    await create_once(kube, SERVICES, body)
    await merge_patch(kube, SERVICES, "team", "x", body)
    managers = [kw["params"]["fieldManager"] for *_, kw in client.calls]
    assert managers == ["the-operator", "kubectl", "the-operator", "the-operator"]

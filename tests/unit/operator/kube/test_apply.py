"""The write layer's preconditions: a delete names the very object it means."""

from __future__ import annotations

from typing import Any, cast

import pytest

from webstack_operator.kube.apply import delete_object, merge_patch
from webstack_operator.kube.client import ApiError, KubeClient, Resource

SERVICES = Resource("", "v1", "Service", "services", namespaced=True)


class Recorder:
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

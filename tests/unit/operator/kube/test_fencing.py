"""Fenced writes: a write is checked against the Lease at the moment it goes out, not when it was asked for.

Under the brownout that costs the Lease, a write may wait for one of the client's request slots for longer
than the renew deadline; by then another replica may lead. Checked before the wait, it would still go.
"""

from __future__ import annotations

import asyncio

import kopf
import pytest
from tests.support.fake_apiserver import FakeApi

from webstack_operator.kube.client import ApiError, KubeClient

CONFIGMAPS = "/api/v1/namespaces/team/configmaps"


async def test_a_write_that_waited_for_a_slot_past_the_lease_is_not_sent(api: FakeApi) -> None:
    client = KubeClient(
        kopf.ConnectionInfo(server=api.url, token="t"), request_slots=1, field_manager="kube-tests"
    )
    leading = True
    client.may_write = lambda: leading
    try:
        async with client._request_slots:  # every slot taken by requests stalled in the brownout
            write = asyncio.create_task(
                client.request("POST", CONFIGMAPS, body={"metadata": {"name": "late"}})
            )
            await asyncio.sleep(0.05)
            assert not write.done(), "the write did not wait for a slot"
            leading = False  # the renew deadline passes while it waits
        with pytest.raises(ApiError) as refused:
            await write
        assert refused.value.reason == "NotLeader"
        assert api.requests_to(CONFIGMAPS) == [], "a write left after the Lease was lost"
        # Reads still go: a standby looks at the cluster.
        await client.request("GET", CONFIGMAPS)
        assert [r.method for r in api.requests_to(CONFIGMAPS)] == ["GET"]
    finally:
        await client.close()


async def test_a_write_is_fenced_again_when_sent_a_second_time_after_new_credentials(
    api: FakeApi,
) -> None:
    """A 401 sends the request once more after logging in again, which may take long (an exec plugin)."""
    leading = True

    def login() -> kopf.ConnectionInfo:
        nonlocal leading
        leading = False  # the Lease is lost while new credentials are fetched
        return kopf.ConnectionInfo(server=api.url, token="new")

    client = KubeClient(
        kopf.ConnectionInfo(server=api.url, token="old"), login=login, field_manager="kube-tests"
    )
    client.may_write = lambda: leading
    api.answer("POST", CONFIGMAPS, 401, {"kind": "Status", "code": 401, "reason": "Unauthorized"})
    try:
        with pytest.raises(ApiError) as refused:
            await client.request("POST", CONFIGMAPS, body={"metadata": {"name": "late"}})
        assert refused.value.reason == "NotLeader"
        assert len(api.requests_to(CONFIGMAPS)) == 1, "the write went again after the Lease was lost"
    finally:
        await client.close()

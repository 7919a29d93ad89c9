"""A generation the apiserver refused: a later reconcile of it (a child event, the resync, a restart that
knows it only from status) writes nothing of it, and a failed retry does not replace the refusal in status."""

from __future__ import annotations

import pytest
from tests.support.refused_stack import STACK, RefusingClient, refused_reconciler

from webstack_operator.kube.client import ApiError
from webstack_operator.reconcile.outcomes import Retry


async def test_a_later_reconcile_of_a_refused_generation_writes_nothing_of_it() -> None:
    """observedGeneration already equals the generation (the refusal was reported); the next reconcile
    must check the generation whole again rather than write every object before the refused one."""
    client = RefusingClient()
    assert await refused_reconciler(client).reconcile(STACK) == "Failed"
    assert client.writes() == []
    assert any(dry and "/ingress" in p for _, p, dry in client.requests)  # checked again, dry


async def test_a_failed_recheck_keeps_the_refusal_in_status() -> None:
    """A transient failure while checking again is retried, but never reported over the refusal: status
    is the only memory of it a restart keeps."""
    client = RefusingClient(ApiError(503, "ServiceUnavailable", "etcd is busy"))
    with pytest.raises(Retry):
        await refused_reconciler(client).reconcile(STACK, attempt=3)  # the attempt that reports a failure
    assert client.writes() == []
    assert client.status_writes() == []


async def test_a_new_generation_whose_held_backend_is_refused_writes_nothing() -> None:
    """The backend waits for its migration Job (no backend runs yet), so it is not written in this
    reconcile; it is still checked with the rest, or the Job and every other object would be written
    before the apiserver refuses the backend later."""
    client = RefusingClient(refused=("Deployment", "shop-backend"))
    accepted_before = {"phase": "Ready", "observedGeneration": 1, "conditions": []}
    assert await refused_reconciler(client, accepted_before).reconcile(STACK) == "Failed"
    assert client.writes() == []
    assert any(dry and p.endswith("/deployments/shop-backend") for _, p, dry in client.requests)

"""tests/support/operator.py's pod view: which operator pods serve, read from pod JSON as the apiserver
returns it, and whom a Lease names."""

from __future__ import annotations

from typing import Any

from tests.support.operator import OperatorPod, serving_pods


def pod(
    name: str, created: str, *, ready: bool = True, ip: str = "10.244.250.7", deleting: bool = False
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": name,
        "creationTimestamp": created,
        "labels": {"app.kubernetes.io/name": "webstack-operator", "pod-template-hash": name.split("-")[2]},
    }
    if deleting:
        metadata["deletionTimestamp"] = "2026-12-06T16:05:00Z"
    status: dict[str, Any] = {
        "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        **({"podIP": ip} if ip else {}),
    }
    return {"metadata": metadata, "status": status}


def test_only_ready_pods_with_an_ip_that_are_not_terminating_serve_oldest_first() -> None:
    pods = [
        pod("webstack-operator-new-b", "2026-12-06T16:02:00Z", ip="10.244.250.9"),
        pod("webstack-operator-old-a", "2026-12-06T16:00:00Z", ip="10.244.250.8"),
        pod("webstack-operator-new-c", "2026-12-06T16:03:00Z", ready=False),
        pod("webstack-operator-old-d", "2026-12-06T16:00:30Z", deleting=True),
        pod("webstack-operator-new-e", "2026-12-06T16:04:00Z", ip=""),
        {"metadata": {"name": "webstack-operator-new-f", "creationTimestamp": "2026-12-06T16:05:00Z"}},
    ]
    assert serving_pods(pods) == [
        OperatorPod("webstack-operator-old-a", "10.244.250.8", "old"),
        OperatorPod("webstack-operator-new-b", "10.244.250.9", "new"),
    ]


def test_a_pod_holds_the_lease_that_names_it_and_no_other() -> None:
    one = OperatorPod("webstack-operator-5d9c7-abcde", "10.244.250.8", "5d9c7")
    assert one.holds({"spec": {"holderIdentity": "webstack-operator-5d9c7-abcde_1a2b3c4d"}})
    assert not one.holds({"spec": {"holderIdentity": "webstack-operator-5d9c7-abcdef_1a2b3c4d"}})
    assert not one.holds({"spec": {"holderIdentity": None}})
    assert not one.holds({"spec": {}})

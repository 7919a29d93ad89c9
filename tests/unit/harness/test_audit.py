"""tests/support/audit.py on synthetic audit events: a clean handover passes; two pods writing at once, or a
pod writing outside its term as the Lease's holder, fails with the writes that show it; reads, failures,
other users, tokens bound to no pod and Lease writes are not counted as writes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.support.audit import (
    AuditWrite,
    Term,
    as_write,
    assert_one_writer_at_a_time,
    assert_writes_within_terms,
    leader_terms,
    operator_writes,
    successful_writes,
)

from kubelocal.audit_log import OPERATOR_USER

T0 = datetime(2026, 12, 6, 16, 0, tzinfo=UTC)
TOOK = timedelta(milliseconds=5)  # every request in these events completes this long after it was received
LEASE = "webstack-operator"
A, B = "webstack-operator-5d9c7-aaaaa", "webstack-operator-5d9c7-bbbbb"


def event(
    second: float,
    pod: str | None,
    verb: str = "patch",
    resource: str = "deployments",
    *,
    code: int = 200,
    holder: str | None = None,
    user: str = OPERATOR_USER,
    stage: str = "ResponseComplete",
) -> dict[str, Any]:
    """An audit.k8s.io/v1 Event as the apiserver writes it; a Lease write carries its body."""
    received = T0 + timedelta(seconds=second)
    extra = {"authentication.kubernetes.io/pod-name": [pod]} if pod else {}
    found: dict[str, Any] = {
        "kind": "Event",
        "apiVersion": "audit.k8s.io/v1",
        "level": "Metadata",
        "stage": stage,
        "verb": verb,
        "user": {"username": user, "groups": ["system:serviceaccounts"], "extra": extra},
        "objectRef": {"resource": resource, "namespace": "team", "name": "shop-backend"},
        "responseStatus": {"metadata": {}, "code": code},
        "requestReceivedTimestamp": received.isoformat().replace("+00:00", "Z"),
        "stageTimestamp": (received + TOOK).isoformat().replace("+00:00", "Z"),
    }
    if resource == "leases":
        found["level"] = "Request"
        found["objectRef"] = {"resource": "leases", "namespace": "webstack-system", "name": LEASE}
        found["requestObject"] = {"spec": {"holderIdentity": holder}}
    return found


def take(second: float, pod: str, verb: str = "update", code: int = 200) -> dict[str, Any]:
    return event(second, pod, verb, "leases", code=code, holder=f"{pod}_1a2b3c4d")


def rows(*events: dict[str, Any]) -> list[AuditWrite]:
    found = [as_write(e) for e in events]
    return sorted((r for r in found if r is not None), key=lambda r: r.received)


def handover() -> list[dict[str, Any]]:
    """A leads and writes, releases (SIGTERM); B takes at its next look, renews and writes."""
    return [
        take(0, A, "create", 201),
        event(1, A),
        event(2, A, "create", "events"),
        take(2.5, A),  # a renewal
        event(3, A, "patch", "webstacks", code=200),
        event(4, A, "update", "leases", holder=None),  # released: the body names nobody
        take(5, B),
        event(6, B),
        take(7, B),
        event(8, B, "delete", "services"),
    ]


def test_a_clean_handover_passes_both_checks() -> None:
    found = rows(*handover())
    assert [w.pod for w in successful_writes(found)] == [A, A, A, B, B]
    assert leader_terms(found) == [
        Term(A, T0 + TOOK, T0 + timedelta(seconds=4)),  # a term begins once its take returned
        Term(B, T0 + timedelta(seconds=5) + TOOK, None),
    ]
    assert_one_writer_at_a_time(found)
    assert_writes_within_terms(found)


def test_writes_of_two_pods_interleaved_fail_with_the_interleaving() -> None:
    found = rows(take(0, A, "create", 201), event(1, A), take(2, B), event(3, B), event(4, A))
    with pytest.raises(AssertionError) as failure:
        assert_one_writer_at_a_time(found)
    message = str(failure.value)
    assert f"{A} [16:00:01.000000 .. 16:00:04.005000] overlaps {B}" in message
    listed = [line.split()[1] for line in message.splitlines()[2:]]
    assert listed == [B, A], message  # the writes inside the overlap, in order
    with pytest.raises(AssertionError, match=r"1 write\(s\) outside.*\n.*16:00:04\.000000 " + A):
        assert_writes_within_terms(found)


def test_a_write_before_the_pods_own_take_fails() -> None:
    # B writes while A still holds the Lease, then takes it: no overlap of windows, but outside its term.
    found = rows(take(0, A, "create", 201), event(1, A), event(2, B), take(3, B), event(4, B))
    assert_one_writer_at_a_time(found)
    with pytest.raises(AssertionError) as failure:
        assert_writes_within_terms(found)
    assert f"16:00:02.000000 {B} patch deployments team/shop-backend 200" in str(failure.value)
    assert f"terms: {A} [16:00:00.005000 .. 16:00:03.000000], {B} [16:00:03.005000 .. open]" in str(
        failure.value
    )


def test_a_write_after_the_pod_released_the_lease_fails() -> None:
    released = event(2, A, "update", "leases", holder=None)
    found = rows(take(0, A, "create", 201), event(1, A), released, event(3, A))
    with pytest.raises(AssertionError, match="outside"):
        assert_writes_within_terms(found)


def test_failed_requests_lease_writes_and_unbound_tokens_are_not_writes() -> None:
    found = rows(
        take(0, A, "create", 201),
        event(1, A),
        event(2, B, code=409),  # a conflict changed nothing
        event(2.1, B, code=403),
        event(2.2, None),  # a token bound to no pod (kubectl create token): no pod to blame
        event(2.3, B, "get"),  # a read
        event(2.4, B, user="admin"),
        event(2.5, B, stage="RequestReceived"),
        take(2.6, B, "create", 409),  # lost the race to create: no term
        event(3, A),
    )
    assert {w.pod for w in found} == {A, B}
    assert [(w.pod, w.code) for w in successful_writes(found)] == [(A, 200), (A, 200)]
    assert leader_terms(found) == [Term(A, T0 + TOOK, None)]
    assert_one_writer_at_a_time(found)
    assert_writes_within_terms(found)


def test_a_lease_row_names_its_holder_and_the_holders_pod() -> None:
    row = as_write(take(0, A))
    assert row is not None and row.is_lease and row.lease_holder == f"{A}_1a2b3c4d" and row.holder_pod == A
    released = as_write(event(1, A, "update", "leases", holder=None))
    assert released is not None and released.holder_pod is None
    assert (plain := as_write(event(1, A))) is not None and plain.lease_holder is None


def test_the_log_is_read_with_its_backup_from_since_and_a_partial_line_waits(tmp_path: Path) -> None:
    log = tmp_path / "kube-apiserver-audit.log"
    backup = tmp_path / "kube-apiserver-audit-2026-12-06T16-00-03.000.log"
    backup.write_text("".join(json.dumps(e) + "\n" for e in handover()[:4]))
    log.write_text("".join(json.dumps(e) + "\n" for e in handover()[4:]) + '{"kind": "Ev')
    found = operator_writes(log, since=T0 + timedelta(seconds=1))
    assert [w.received for w in found] == sorted(w.received for w in found)
    assert found[0].received == T0 + timedelta(seconds=1)
    assert len(found) == len(handover()) - 1  # the take at 0 is before `since`
    assert found[-1] == AuditWrite(
        pod=B,
        verb="delete",
        resource="services",
        namespace="team",
        name="shop-backend",
        code=200,
        received=T0 + timedelta(seconds=8),
        completed=T0 + timedelta(seconds=8, milliseconds=5),
    )


def test_a_subresource_is_part_of_the_resource() -> None:
    status = event(1, A, "patch", "webstacks")
    status["objectRef"]["subresource"] = "status"
    row = as_write(status)
    assert row is not None and row.resource == "webstacks/status" and not row.is_lease


def test_writes_that_straddle_a_take_fail() -> None:
    # The old leader's write received just before the new leader's take and completed after the take was
    # received: the two pods wrote at once (kopf's own patches are not fenced by the Lease).
    straddling = rows(take(0, A, "create", 201), event(2.999, A), take(3, B))
    with pytest.raises(AssertionError, match="outside their pod's term"):
        assert_writes_within_terms(straddling)
    # A write by the new leader received while its own take was still in flight: not yet its term.
    early = rows(take(0, A, "create", 201), take(3, B), event(3.002, B))
    with pytest.raises(AssertionError, match="outside their pod's term"):
        assert_writes_within_terms(early)

"""Stamps: hashing, stamping, and the unchanged test that makes idle reconciles free."""

from __future__ import annotations

from typing import Any

from webstack_operator.objects.stamps import (
    DESIRED_HASH,
    FIELD_MANAGER,
    RECENT,
    Applied,
    ArrivalOrder,
    desired_hash,
    key_of,
    our_fields_hash,
    stamped,
)
from webstack_operator.observe.cache import Seen
from webstack_operator.reconcile.decisions import is_create_only, unchanged_since


def _cm(data: str = "a") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "x", "namespace": "ns"},
        "data": {"k": data},
    }


def _observed(obj: dict[str, Any], fields: dict[str, Any], manager: str = FIELD_MANAGER) -> dict[str, Any]:
    body, _ = stamped(obj)
    body["metadata"]["managedFields"] = [{"manager": manager, "operation": "Apply", "fieldsV1": fields}]
    body["metadata"]["resourceVersion"] = "7"
    return body


def _seen(observed: dict[str, Any]) -> Seen:
    return Seen(observed, our_fields_hash(observed))


def test_desired_hash_is_stable_and_content_sensitive() -> None:
    assert desired_hash(_cm()) == desired_hash(_cm())
    assert desired_hash(_cm("a")) != desired_hash(_cm("b"))


def test_stamped_adds_the_hash_without_mutating_input() -> None:
    obj = _cm()
    body, h = stamped(obj)
    assert body["metadata"]["annotations"][DESIRED_HASH] == h
    assert "annotations" not in obj["metadata"]


def test_key_of() -> None:
    assert key_of(_cm()) == ("v1", "ConfigMap", "ns", "x")


def test_unchanged_needs_same_hash_and_same_owned_fields() -> None:
    obj = _cm()
    h = stamped(obj)[1]
    fields = {"f:data": {"f:k": {}}}
    observed = _observed(obj, fields)
    applied = Applied(h, our_fields_hash(observed), "7", "uid")
    assert unchanged_since(applied, _seen(observed), h)
    # someone took a field (kubectl edit): our owned set shrank
    taken = _observed(obj, {"f:data": {}})
    assert not unchanged_since(applied, _seen(taken), h)
    # the spec changed
    assert not unchanged_since(applied, _seen(observed), stamped(_cm("b"))[1])
    # never applied by this process, or gone
    assert not unchanged_since(None, _seen(observed), h)
    assert not unchanged_since(applied, None, h)


def test_our_fields_hash_ignores_other_managers() -> None:
    assert our_fields_hash(_observed(_cm(), {"f:data": {}}, manager="kubectl")) == ""


def test_create_only_is_the_kinds_tables_word() -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "x"}}
    assert is_create_only(secret)
    assert not is_create_only(_cm())


def test_watch_events_replace_each_other_in_arrival_order_whatever_the_versions_look_like() -> None:
    """Opaque versions: after an etcd restore they may go back ("900" then "12"); some servers' are not
    numbers at all. A watch delivers changes in order, so each event is the newest."""
    order: ArrivalOrder[str] = ArrivalOrder()
    assert all(order.watched("a", v) for v in ("900", "12", "b7f", "a01"))


def test_a_late_copy_of_a_version_already_replaced_is_refused() -> None:
    """A handler's body can be older than the last event's."""
    order: ArrivalOrder[str] = ArrivalOrder()
    assert order.watched("a", "x1")
    assert order.watched("a", "x2")
    assert not order.watched("a", "x1")
    assert order.watched("a", "x2")  # the same version again is no change


def test_a_write_answer_the_watch_has_not_delivered_is_kept() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    assert order.watched("a", "e1")
    assert order.answered("a", "w")
    assert order.answered("a", "e1")  # the last the watch delivered: no change
    assert order.watched("a", "w")  # the watch catches up
    assert order.watched("a", "e3")  # after it: newer


def test_a_write_answer_the_watch_has_moved_past_is_refused() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    assert order.watched("a", "w")
    assert order.watched("a", "later")
    assert not order.answered("a", "w")


def test_only_the_last_versions_are_remembered_and_forget_drops_them() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    for i in range(RECENT + 1):
        assert order.watched("a", f"v{i}")
    assert order.watched("a", "v0")  # too old to be recognised: taken as a new event, as the watch says
    assert not order.watched("a", "v5")
    order.forget("a")
    assert len(order) == 0
    assert order.watched("a", "v5")


def test_no_version_is_no_evidence() -> None:
    order: ArrivalOrder[str] = ArrivalOrder()
    assert order.answered("a", "")
    assert order.watched("a", "")
    assert len(order) == 0

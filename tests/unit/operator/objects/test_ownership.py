"""Whose object holds a child's name: the rules that keep the operator off what is not its own."""

from __future__ import annotations

from typing import Any

from webstack_operator.objects import labels
from webstack_operator.objects.ownership import Ownership, belongs_to, conflict_message, members, ownership

STACK = ("team", "shop")


def _obj(*, controller: dict[str, Any] | None = None, ours: bool = False, **meta: Any) -> dict[str, Any]:
    m: dict[str, Any] = {"name": "shop-backend", "namespace": "team", **meta}
    if controller is not None:
        m["ownerReferences"] = [{"controller": True, **controller}]
    if ours:
        m.setdefault("labels", {}).update(
            {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.INSTANCE: "shop"}
        )
    return {"apiVersion": "v1", "kind": "Service", "metadata": m}


def _webstack(uid: str, name: str = "shop") -> dict[str, Any]:
    return {"apiVersion": "webstack.dev/v1alpha1", "kind": "WebStack", "name": name, "uid": uid}


def test_our_controller_reference_is_ours() -> None:
    assert ownership(_obj(controller=_webstack("u1"), ours=True), STACK, "u1") is Ownership.OURS


def test_a_users_own_object_is_a_conflict_unless_annotated() -> None:
    assert ownership(_obj(), STACK, "u1") is Ownership.CONFLICT
    annotated = _obj(annotations={"webstack.dev/adopt": "true"})
    assert ownership(annotated, STACK, "u1") is Ownership.ADOPTABLE


def test_another_controllers_object_is_a_conflict_even_annotated() -> None:
    rs = _obj(
        controller={"kind": "ReplicaSet", "name": "x", "uid": "r"}, annotations={"webstack.dev/adopt": "true"}
    )
    assert ownership(rs, STACK, "u1") is Ownership.CONFLICT
    other_stack = _obj(controller=_webstack("u9", name="blog"), ours=True)
    assert ownership(other_stack, STACK, "u1") is Ownership.CONFLICT


def test_an_earlier_stack_of_the_same_name_is_being_collected() -> None:
    assert ownership(_obj(controller=_webstack("old"), ours=True), STACK, "new") is Ownership.DOOMED


def test_labelled_without_controller_is_a_leftover_to_adopt() -> None:
    assert ownership(_obj(ours=True), STACK, "u1") is Ownership.LEFTOVER
    elsewhere = _obj(ours=True, namespace="velero")
    elsewhere["metadata"]["labels"].update({labels.STACK_NAMESPACE: "team", labels.STACK_UID: "u1"})
    assert ownership(elsewhere, STACK, "u1") is Ownership.OURS
    elsewhere["metadata"]["labels"][labels.STACK_UID] = "old"
    assert ownership(elsewhere, STACK, "u1") is Ownership.LEFTOVER
    assert not belongs_to(elsewhere, "team", "u1")


def test_the_conflict_message_names_the_object_and_the_ways_out() -> None:
    message = conflict_message("Service", _obj())
    assert "Service team/shop-backend" in message
    assert "webstack.dev/adopt=true" in message


def _schedule(ns: str = "velero", **lbl: str) -> dict[str, Any]:
    found = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE, labels.INSTANCE: "shop", **lbl}
    meta = {"name": "team-shop-1a2b", "namespace": ns, "labels": found}
    return {"apiVersion": "velero.io/v1", "kind": "Schedule", "metadata": meta}


def test_a_child_belongs_by_uid_never_by_labels() -> None:
    """In the stack's namespace, its controller reference; for a kind living elsewhere, its UID label.
    Labels naming the stack make nothing its own, in any namespace."""
    assert belongs_to(_obj(controller=_webstack("u1"), ours=True), "team", "u1")
    assert not belongs_to(_obj(controller=_webstack("old"), ours=True), "team", "u1")  # doomed
    assert not belongs_to(_obj(ours=True), "team", "u1")  # labelled, nobody's controller: a leftover
    lookalike = _obj(ours=True, namespace="zzz", labels={labels.STACK_NAMESPACE: "team"})
    assert not belongs_to(lookalike, "team", "u1")
    pointing_across = _obj(controller=_webstack("u1"), ours=True, namespace="zzz")
    assert not belongs_to(pointing_across, "team", "u1")  # owner references do not cross namespaces
    assert belongs_to(_schedule(**{labels.STACK_NAMESPACE: "team", labels.STACK_UID: "u1"}), "team", "u1")
    assert not belongs_to(_schedule(**{labels.STACK_NAMESPACE: "team"}), "team", "u1")
    assert not belongs_to(_schedule(**{labels.STACK_NAMESPACE: "team", labels.STACK_UID: "u2"}), "team", "u1")


def test_members_are_the_stacks_own_and_what_their_controllers_made_of_them() -> None:
    rollout = _obj(controller=_webstack("u1"), ours=True, name="shop-backend", uid="r1")
    rollout["kind"] = "Rollout"
    run = _obj(controller={"kind": "Rollout", "name": "shop-backend", "uid": "r1"}, ours=True, name="run-1")
    foreign_run = _obj(controller={"kind": "Rollout", "name": "x", "uid": "r9"}, ours=True, name="run-2")
    doomed = _obj(controller=_webstack("old"), ours=True, name="shop-frontend")
    assert members([rollout, run, foreign_run, doomed, _obj(ours=True)], "team", "u1") == [rollout, run]

"""Stamps: hashing, stamping, and the unchanged test that makes idle reconciles free."""

from __future__ import annotations

from typing import Any

from webstack_operator.cache import Seen
from webstack_operator.decide import is_create_only, unchanged_since
from webstack_operator.stamps import (
    DESIRED_HASH,
    FIELD_MANAGER,
    Applied,
    desired_hash,
    key_of,
    newer_or_equal,
    our_fields_hash,
    stamped,
)


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


def test_newer_or_equal_compares_resource_versions_as_numbers() -> None:
    old, new = _cm(), _cm()
    old["metadata"]["resourceVersion"], new["metadata"]["resourceVersion"] = "9", "10"
    assert newer_or_equal(new, old)
    assert not newer_or_equal(old, new)
    assert newer_or_equal(old, None)

"""The generated credentials' rules: no new password over a volume that needs the old one."""

from __future__ import annotations

from typing import Any

from webstack_operator.api.spec import parse_spec
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.reconcile.credentials_rules import (
    Volume,
    credentials_source_missing,
    owner_refs_fix,
    regenerate_request,
    volume_state,
)

OURS = {
    "apiVersion": "webstack.dev/v1alpha1",
    "kind": "WebStack",
    "name": "shop",
    "uid": "u1",
    "controller": True,
}


def _secret(*refs: dict[str, Any]) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "shop-postgres", "namespace": "team"}
    if refs:
        meta["ownerReferences"] = list(refs)
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta}


def test_owner_references_follow_the_policy_both_ways_and_keep_others() -> None:
    other = {"kind": "Thing", "name": "t", "uid": "t1"}
    assert owner_refs_fix(_secret(), _secret(OURS, other), "u1") == [other]  # Delete -> Retain
    assert owner_refs_fix(_secret(OURS), _secret(other), "u1") == [other, OURS]  # Retain -> Delete
    assert owner_refs_fix(_secret(OURS), _secret(OURS), "u1") is None
    assert owner_refs_fix(_secret(), _secret(), "u1") is None


def _pvc(owner_uid: str | None = None, deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": "data-shop-postgres-0"}
    if owner_uid:
        meta["ownerReferences"] = [{"kind": "StatefulSet", "name": "shop-postgres", "uid": owner_uid}]
    if deleting:
        meta["deletionTimestamp"] = "2026-12-02T00:00:00Z"
    return {"metadata": meta}


def test_a_volume_with_data_blocks_a_new_password() -> None:
    assert volume_state(None, None) is Volume.ABSENT
    assert volume_state(_pvc(), None) is Volume.HOLDS_DATA  # retained: no owner
    assert volume_state(_pvc("s1"), "s1") is Volume.HOLDS_DATA  # in use by the live StatefulSet
    assert volume_state(_pvc("s0"), "s1") is Volume.GOING  # its StatefulSet is gone: collected next
    assert volume_state(_pvc(deleting=True), None) is Volume.GOING


def test_the_regenerate_action_is_read_from_the_webstack() -> None:
    body = {"metadata": {"annotations": {"webstack.dev/regenerate-credentials": "1"}}}
    assert regenerate_request(body) == "1"
    assert regenerate_request({"metadata": {}}) is None


def test_a_credentials_source_whose_api_is_missing_is_named() -> None:
    data = {"username": "AgA", "password": "AgB", "database": "AgC"}
    sealed = parse_spec(
        {
            "spec": {
                "backend": {"image": "x:1"},
                "database": {"credentials": {"sealedSecret": {"encryptedData": data}}},
            }
        }
    )
    [problem] = credentials_source_missing(sealed, Capabilities(sealed_secrets=False))
    assert problem.reason == "SealedSecretsNotInstalled"
    assert "bitnami.com/v1alpha1 SealedSecret" in problem.message
    assert credentials_source_missing(sealed, Capabilities(sealed_secrets=True)) == []

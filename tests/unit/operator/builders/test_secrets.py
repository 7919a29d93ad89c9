"""Credentials: generated once (create-only, retained), referenced, sealed or synced."""

from __future__ import annotations

import base64

import pytest
from tests.support.rendered_stacks import PASSWORD, make_stack

from webstack_operator.builders.secrets import (
    APPLY_POLICY_ANNOTATION,
    CREATE_ONLY,
    SEALED_SKIP_OWNER_ANNOTATION,
    credentials,
)
from webstack_operator.config.operator_settings import Capabilities

SEALED = {"username": "AgA1", "password": "AgA2", "database": "AgA3"}
EXTERNAL = {"storeRef": {"kind": "ClusterSecretStore", "name": "aws"}, "remoteKey": "prod/shop/pg"}


def test_generated_secret_is_create_only_and_outlives_the_stack_by_default() -> None:
    [secret] = credentials(make_stack())
    assert secret["kind"] == "Secret"
    assert secret["metadata"]["name"] == "shop-postgres"
    assert secret["metadata"]["annotations"][APPLY_POLICY_ANNOTATION] == CREATE_ONLY
    assert "ownerReferences" not in secret["metadata"]  # Retain
    decoded = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    assert decoded == {"username": "webstack", "password": PASSWORD, "database": "webstack"}


def test_generated_secret_is_owned_when_deletion_policy_is_delete() -> None:
    [secret] = credentials(make_stack(database={"deletionPolicy": "Delete"}))
    assert secret["metadata"]["ownerReferences"][0]["name"] == "shop"


def test_generated_secret_needs_a_password() -> None:
    ctx = make_stack()
    empty = type(ctx)(spec=ctx.spec, name=ctx.name, namespace=ctx.namespace, settings=ctx.settings)
    with pytest.raises(ValueError, match="generated_password"):
        credentials(empty)


def test_secret_ref_renders_nothing() -> None:
    ctx = make_stack(database={"credentials": {"secretRef": {"name": "mine"}}})
    assert credentials(ctx) == []
    assert ctx.credentials_secret == "mine"


def test_sealed_secret_passes_through_and_skips_owner_on_retain() -> None:
    [sealed] = credentials(make_stack(database={"credentials": {"sealedSecret": {"encryptedData": SEALED}}}))
    assert (sealed["apiVersion"], sealed["kind"]) == ("bitnami.com/v1alpha1", "SealedSecret")
    assert sealed["metadata"]["name"] == "shop-postgres"
    assert sealed["spec"]["encryptedData"] == dict(sorted(SEALED.items()))
    assert sealed["spec"]["template"]["metadata"]["annotations"] == {SEALED_SKIP_OWNER_ANNOTATION: "true"}


def test_external_secret_maps_remote_properties() -> None:
    [es] = credentials(make_stack(database={"credentials": {"externalSecret": EXTERNAL}}))
    assert (es["apiVersion"], es["kind"]) == ("external-secrets.io/v1", "ExternalSecret")
    assert es["spec"]["secretStoreRef"] == {"kind": "ClusterSecretStore", "name": "aws"}
    assert es["spec"]["target"]["name"] == "shop-postgres"
    assert es["spec"]["target"]["creationPolicy"] == "Orphan"
    assert [(d["secretKey"], d["remoteRef"]) for d in es["spec"]["data"]] == [
        ("username", {"key": "prod/shop/pg", "property": "username"}),
        ("password", {"key": "prod/shop/pg", "property": "password"}),
        ("database", {"key": "prod/shop/pg", "property": "database"}),
    ]


def test_external_secret_for_external_database_syncs_uri() -> None:
    ctx = make_stack(
        database={
            "mode": "External",
            "deletionPolicy": "Delete",
            "credentials": {"externalSecret": {**EXTERNAL, "properties": {"uri": "dsn"}}},
        }
    )
    [es] = credentials(ctx)
    assert es["spec"]["target"]["creationPolicy"] == "Owner"
    assert es["spec"]["data"] == [
        {"secretKey": "uri", "remoteRef": {"key": "prod/shop/pg", "property": "dsn"}}
    ]


def test_missing_optional_api_skips_the_object() -> None:
    none = Capabilities(sealed_secrets=False, external_secrets=False)
    assert (
        credentials(make_stack(capabilities=none, database={"credentials": {"externalSecret": EXTERNAL}}))
        == []
    )
    sealed = {"credentials": {"sealedSecret": {"encryptedData": SEALED}}}
    assert credentials(make_stack(capabilities=none, database=sealed)) == []

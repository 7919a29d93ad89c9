"""prerequisites.py: what a spec names that the cluster must have, looked for without assuming absence."""

from __future__ import annotations

from typing import Any

from webstack_operator.api.spec import parse_spec
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.observe.prerequisites import ClusterObjects, check, references

FULL: dict[str, Any] = {
    "backend": {"image": "example.com/users-api:1.0.0"},
    "database": {
        "storage": {"storageClassName": "gp3"},
        "credentials": {
            "externalSecret": {"storeRef": {"kind": "ClusterSecretStore", "name": "aws"}, "remoteKey": "k"}
        },
    },
    "ingress": {"enabled": True, "host": "shop.example.com", "className": "alb"},
    "security": {"priorityClassName": "webstack-high"},
}


def _refs(spec: dict[str, Any], capabilities: Capabilities | None = None) -> list[str]:
    found = references(parse_spec({"spec": spec}), "team-a", capabilities or Capabilities())
    return [r.describe() for r in found]


def test_references_follow_the_spec() -> None:
    assert _refs(FULL) == [
        "PriorityClass webstack-high",
        "StorageClass gp3",
        "ClusterSecretStore aws",
        "IngressClass alb",
    ]
    assert _refs({"backend": FULL["backend"]}) == []
    store = {"externalSecret": {"storeRef": {"name": "vault"}, "remoteKey": "k"}}
    assert _refs({**FULL, "database": {"credentials": store}})[1] == "SecretStore vault in namespace team-a"
    # Without External Secrets, credentials_rules.py reports the API missing; no store is looked for.
    assert "ClusterSecretStore aws" not in _refs(FULL, Capabilities(external_secrets=False))
    external = {"mode": "External", "credentials": {"secretRef": {"name": "dsn"}}}
    assert _refs({**FULL, "database": external}) == ["PriorityClass webstack-high", "IngressClass alb"]


def _named(kind: str, name: str, namespace: str = "") -> dict[str, Any]:
    meta = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"kind": kind, "metadata": meta}


def test_unknown_is_not_absent_and_a_creation_is_seen() -> None:
    objects = ClusterObjects()
    refs = references(parse_spec({"spec": FULL}), "team-a", Capabilities())
    result = check(refs, objects.exists)
    assert result.missing == () and len(result.unchecked) == 4  # nothing listed yet: nothing is missing

    assert objects.resync("PriorityClass", None, []) is False  # listed, empty: now known absent
    assert objects.resync("StorageClass", None, [_named("StorageClass", "gp3")]) is True
    result = check(refs, objects.exists)
    assert [p.reason for p in result.missing] == ["PriorityClassNotFound"]
    assert (
        "spec.security.priorityClassName names the PriorityClass webstack-high" in result.missing[0].message
    )
    assert result.found == ("StorageClass gp3",)
    assert result.unchecked == ("ClusterSecretStore aws", "IngressClass alb")

    assert objects.saw("ADDED", _named("PriorityClass", "webstack-high")) is True
    assert objects.saw("MODIFIED", _named("PriorityClass", "webstack-high")) is False
    assert check(refs, objects.exists).missing == ()
    assert objects.saw("DELETED", _named("PriorityClass", "webstack-high")) is True
    assert [p.reason for p in check(refs, objects.exists).missing] == ["PriorityClassNotFound"]


def test_namespaced_stores_are_known_per_listed_namespace() -> None:
    objects = ClusterObjects()
    objects.resync("SecretStore", "team-a", [_named("SecretStore", "vault", "team-a")])
    assert objects.exists("SecretStore", "team-a", "vault") is True
    assert objects.exists("SecretStore", "team-a", "other") is False
    assert objects.exists("SecretStore", "team-b", "vault") is None  # team-b was never listed
    objects.resync("SecretStore", None, [])
    assert objects.exists("SecretStore", "team-b", "vault") is False
    assert objects.exists("SecretStore", "team-a", "vault") is False  # the full list no longer has it

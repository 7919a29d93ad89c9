"""The generated CRD: committed copy up to date, structural, CEL-cost friendly, defaults equal the models'."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from webstack_operator.api.crd import CRD_FILE, crd_manifest, crd_yaml
from webstack_operator.api.spec import WebStackSpec

ROOT = Path(__file__).parents[4]
FORBIDDEN = {
    "$ref",
    "$defs",
    "title",
    "nullable",
    "oneOf",
    "allOf",
    "not",
    "const",
    "patternProperties",
    "propertyNames",
    "examples",
    "discriminator",
}


def _schema() -> dict[str, Any]:
    schema: dict[str, Any] = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return schema


def _walk(node: dict[str, Any], path: str = "") -> list[tuple[str, dict[str, Any]]]:
    out = [(path, node)]
    for name, child in node.get("properties", {}).items():
        out += _walk(child, f"{path}.{name}")
    if "items" in node:
        out += _walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        out += _walk(node["additionalProperties"], f"{path}{{}}")
    return out


def test_committed_crd_is_current() -> None:
    committed = (ROOT / "crds" / CRD_FILE).read_text(encoding="utf-8")
    assert committed == crd_yaml(), "crds/webstack.dev_webstacks.yaml is stale: run `make crd`"


def test_names_scope_and_subresources() -> None:
    spec = crd_manifest()["spec"]
    assert spec["group"] == "webstack.dev"
    assert spec["names"] == {
        "kind": "WebStack",
        "listKind": "WebStackList",
        "plural": "webstacks",
        "singular": "webstack",
        "shortNames": ["ws"],
        "categories": ["all"],
    }
    assert spec["scope"] == "Namespaced"
    [version] = spec["versions"]
    assert (version["name"], version["served"], version["storage"]) == ("v1alpha1", True, True)
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "Phase": ".status.phase",
        "Ready": ".status.readyComponents",
        "Reason": ".status.reason",
        "Blocker": ".status.blocker",
        "Backend Image": ".status.components.backend.image",
        "URL": ".status.url",
        "Last Backup": ".status.backup.lastSuccessfulTime",
        "Age": ".metadata.creationTimestamp",
    }


def test_schema_is_structural() -> None:
    for path, node in _walk(_schema()):
        assert not FORBIDDEN & node.keys(), f"{path}: {FORBIDDEN & node.keys()}"
        if node.get("x-kubernetes-int-or-string"):
            assert node["anyOf"] == [{"type": "integer"}, {"type": "string"}], path
            assert "type" not in node, path
        else:
            assert node.get("type") in {"object", "array", "string", "integer", "number", "boolean"}, path
            assert "anyOf" not in node, path
        if node.get("type") == "object":
            assert not ("properties" in node and "additionalProperties" in node), path
            assert node.get("additionalProperties") is not False, path
        if isinstance(node.get("exclusiveMinimum"), (int, float)) and not isinstance(
            node["exclusiveMinimum"], bool
        ):
            pytest.fail(f"{path}: numeric exclusiveMinimum is JSON Schema 2020, not OpenAPI v3")


def test_every_field_is_described() -> None:
    undocumented = [
        p for p, n in _walk(_schema()) if p.startswith((".spec", ".status")) and not n.get("description")
    ]
    undocumented = [
        p for p in undocumented if not p.endswith(("[]", "{}"))
    ]  # list items/map values: the field is
    assert undocumented == []


def test_cel_costs_are_bounded() -> None:
    """The apiserver estimates CEL cost from maxLength/maxItems/maxProperties: bound every one."""
    for path, node in _walk(_schema()):
        if not path.startswith(".spec"):
            continue
        kind = node.get("type")
        if kind == "string" and "enum" not in node:
            assert "maxLength" in node, f"{path}: string without maxLength"
        if kind == "array":
            assert "maxItems" in node, f"{path}: list without maxItems"
        if kind == "object" and "additionalProperties" in node:
            assert "maxProperties" in node, f"{path}: map without maxProperties"


def test_cel_rules_cover_the_cross_field_rules() -> None:
    messages = [r["message"] for _, n in _walk(_schema()) for r in n.get("x-kubernetes-validations", [])]
    for expected in (
        "mode External needs credentials.secretRef",
        "strategy Canary needs at least one step",
        "storageClassName is immutable",
        "maxReplicas must be greater than or equal to minReplicas",
        "host is required when ingress is enabled",
        "limits.memory must be at least requests.memory",
        "mode External needs exactly one of url or secretRef",
        "set at most one of secretRef, sealedSecret or externalSecret",
        "a step sets exactly one of setWeight or pause",
        "env may not set variables the operator manages",
        "backend.delivery.analysis needs monitoring.enabled",
        "metadata.name must be at most 40 characters",
        "pin a version tag or a digest",
    ):
        assert any(m.startswith(expected) for m in messages), expected


def test_env_is_a_list_map_keyed_by_name() -> None:
    env = _schema()["properties"]["spec"]["properties"]["backend"]["properties"]["env"]
    assert env["x-kubernetes-list-type"] == "map"
    assert env["x-kubernetes-list-map-keys"] == ["name"]
    assert "name" in env["items"]["required"]


def _apply_defaults(schema: dict[str, Any], value: Any) -> Any:
    """Structural defaulting as the apiserver does it: fill absent fields that have a default, recurse."""
    if isinstance(value, dict) and "properties" in schema:
        out = dict(value)
        for name, child in schema["properties"].items():
            if name not in out and "default" in child:
                out[name] = child["default"]
            if name in out:
                out[name] = _apply_defaults(child, out[name])
        return out
    if isinstance(value, list) and "items" in schema:
        return [_apply_defaults(schema["items"], item) for item in value]
    return value


@pytest.mark.parametrize(
    "spec",
    [
        {"backend": {"image": "api:1.0"}},
        {
            "backend": {
                "image": "api:1.0",
                "autoscaling": {},
                "delivery": {
                    "strategy": "Canary",
                    "steps": [{"pause": {}}],
                    "analysis": {"prometheusAddress": "http://p:9090"},
                },
            },
            "database": {"credentials": {"externalSecret": {"storeRef": {"name": "s"}, "remoteKey": "k"}}},
        },
        {
            "backend": {"image": "api:1.0", "placement": {"tolerations": [{"key": "spot", "value": "true"}]}},
            "placement": {"tolerations": [{"operator": "Exists"}], "nodeSelector": {}},
        },
    ],
)
def test_apiserver_defaults_equal_model_defaults(spec: dict[str, Any]) -> None:
    defaulted = _apply_defaults(_schema()["properties"]["spec"], spec)
    model = WebStackSpec.model_validate(spec).model_dump(mode="json", by_alias=True, exclude_none=True)
    assert defaulted == model


def test_crd_yaml_round_trips() -> None:
    text = crd_yaml()
    assert text.startswith("# Generated")
    assert yaml.safe_load(text) == crd_manifest()
    assert "&id" not in text and "*id" not in text


def test_the_database_cannot_switch_to_external_under_delete() -> None:
    """A transition rule: the edit that stops a Managed database under `deletionPolicy: Delete` is refused
    by the apiserver, with a message naming deletionPolicy and the way forward."""
    database = _schema()["properties"]["spec"]["properties"]["database"]
    rules = [r for r in database["x-kubernetes-validations"] if "oldSelf" in r["rule"]]
    assert [r["fieldPath"] for r in rules] == [".mode"]
    assert "deletionPolicy is Delete" in rules[0]["message"]
    assert "deletionPolicy: Retain" in rules[0]["message"]


# kubectl's client-side apply keeps the whole object, as compact JSON, in an annotation; an object's
# annotations may hold 262,144 bytes in all. Under 200 KB leaves room for growth and for the other ones.
LAST_APPLIED_BUDGET = 200_000


def test_the_crd_fits_client_side_applys_last_applied_annotation() -> None:
    """`kubectl apply -f crds/` (no --server-side) must keep working: a CRD over the limit is refused."""
    committed = yaml.safe_load((ROOT / "crds" / CRD_FILE).read_text(encoding="utf-8"))
    size = len(json.dumps(committed, separators=(",", ":")).encode())
    assert size < LAST_APPLIED_BUDGET, f"the CRD is {size} bytes as compact JSON"

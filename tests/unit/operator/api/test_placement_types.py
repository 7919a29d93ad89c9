"""Placement in the models: the rules (same words as their CEL twins), the merge rule, and the CRD's rules."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.placement_cases import (
    BAD_SELECTOR_KEY,
    INVALID,
    INVALID_BY_SCHEMA,
    SPOT_TOLERATION,
    VALID,
    spread,
    with_placement,
)

from webstack_operator.api.crd import crd_manifest
from webstack_operator.api.field_types import SELECTOR_KEY_MESSAGE
from webstack_operator.api.placement_types import (
    FILLED_SELECTOR_KEYS,
    SPREAD_KEYS_UNIQUE,
    Placement,
    effective_placement,
)
from webstack_operator.api.spec import SpecError, parse_spec
from webstack_operator.objects import labels


def _problems(spec: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        parse_spec({"metadata": {"name": "shop"}, "spec": spec})
    return info.value.problems


@pytest.mark.parametrize(("spec", "path", "message"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_placement_is_refused_with_the_cel_message(
    spec: dict[str, Any], path: str, message: str
) -> None:
    problems = _problems(spec)
    # pydantic names the object a cross-field rule sits on; the apiserver may name the field in it.
    assert any(path.startswith(where) and message in said for where, said in problems), problems


@pytest.mark.parametrize(
    ("spec", "path"), [(c[1], c[2]) for c in INVALID_BY_SCHEMA], ids=[c[0] for c in INVALID_BY_SCHEMA]
)
def test_invalid_placement_by_schema_is_refused_offline_too(spec: dict[str, Any], path: str) -> None:
    assert any(path.startswith(where) for where, _ in _problems(spec))


def test_duplicate_spread_keys_say_what_the_apiserver_says_and_why() -> None:
    [(_, spec, _, apiserver_says)] = [c for c in INVALID_BY_SCHEMA if c[0] == "spread-keys-unique"]
    [(where, said)] = _problems(spec)
    assert where == "spec.frontend.placement"
    assert said.startswith(apiserver_says) and said.endswith(SPREAD_KEYS_UNIQUE), said


def test_a_bad_node_selector_key_is_named() -> None:
    spec = with_placement("spec", {"nodeSelector": {"pool": "a", BAD_SELECTOR_KEY: "apps"}})
    assert _problems(spec) == [
        ("spec.placement.nodeSelector", f"{BAD_SELECTOR_KEY!r} {SELECTOR_KEY_MESSAGE}")
    ]


def test_kubernetes_shaped_placement_parses() -> None:
    placement: dict[str, Any] = {
        "nodeSelector": {"eks.amazonaws.com/nodegroup": "apps", "kubernetes.io/arch": "arm64"},
        "tolerations": [
            SPOT_TOLERATION,
            {"operator": "Exists"},
            {
                "key": "node.kubernetes.io/unreachable",
                "operator": "Exists",
                "effect": "NoExecute",
                "tolerationSeconds": 30,
            },
        ],
        "topologySpreadConstraints": [
            spread(minDomains=3),
            spread(
                topologyKey="kubernetes.io/hostname",
                whenUnsatisfiable="ScheduleAnyway",
                labelSelector={"matchExpressions": [{"key": "app", "operator": "Exists"}]},
            ),
        ],
    }
    spec = parse_spec({"spec": with_placement("backend", placement)})
    assert spec.backend.placement is not None
    assert spec.backend.placement.model_dump(mode="json", by_alias=True, exclude_none=True) == {
        **placement,
        # The apiserver's default, as in a pod spec.
        "tolerations": [{**t, "operator": t.get("operator", "Equal")} for t in placement["tolerations"]],
    }


@pytest.mark.parametrize("placement", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_kubernetes_valid_placements_parse_and_keep_every_field(placement: dict[str, Any]) -> None:
    spec = parse_spec({"spec": with_placement("spec", placement)})
    assert spec.placement is not None
    assert spec.placement.model_dump(mode="json", by_alias=True, exclude_none=True) == placement


def test_the_selector_keys_a_spread_is_filled_with_are_the_operators() -> None:
    assert set(FILLED_SELECTOR_KEYS) == set(labels.selector_labels("shop", labels.BACKEND))


def _placement(**fields: Any) -> Placement:
    return Placement.model_validate(fields)


def test_a_component_replaces_the_default_field_by_field() -> None:
    default = _placement(nodeSelector={"pool": "general"}, tolerations=[SPOT_TOLERATION])
    own = _placement(nodeSelector={"pool": "db"})
    merged = effective_placement(own, default)
    assert merged.node_selector == {"pool": "db"}  # replaced whole, not merged key by key
    assert merged.tolerations == default.tolerations  # left out: the default's
    assert merged.topology_spread_constraints is None


def test_an_empty_field_clears_the_default_and_absence_inherits_it() -> None:
    default = _placement(nodeSelector={"pool": "general"}, tolerations=[SPOT_TOLERATION])
    assert effective_placement(_placement(tolerations=[]), default).tolerations == []
    assert effective_placement(None, default) == default
    assert effective_placement(None, None) == Placement()
    assert effective_placement(default, None) == default


def _messages(node: dict[str, Any]) -> set[str]:
    """Every CEL message of the schema `node` and of every field it holds, at any depth."""
    found = {r["message"] for r in node.get("x-kubernetes-validations", [])}
    children = [*node.get("properties", {}).values(), *([node["items"]] if "items" in node else [])]
    for child in children:
        found |= _messages(child)
    return found


@pytest.mark.parametrize("section", ["spec", "backend", "frontend", "database", "cache"])
def test_every_placement_carries_every_rule_in_the_crd(section: str) -> None:
    spec = crd_manifest()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    owner = spec if section == "spec" else spec["properties"][section]
    # The rules inside a placement; "only mode Managed" sits on the database and cache themselves.
    inside = {message for _, _, path, message in INVALID if not path.endswith(".placement")}
    rules = _messages(owner["properties"]["placement"])
    # A rule naming the bad value says the case's words after it ("a key ..." when it cannot).
    assert {m for m in inside if not any(m in rule for rule in rules)} == set()

"""deploy/argocd's WebStack customization cannot drift: its fixtures are what the operator's status code
writes today, the argocd-cm keys are the .lua files, the fixtures cover every phase, and both kustomize
paths carry the ConfigMap. Static; tests/integration/delivery/test_argocd_lua.py runs the Lua."""

from __future__ import annotations

from typing import Any, get_args

import yaml
from tests.support.argocd_cm import ACTIONS_KEY, CM_FILE, HEALTH_KEY, action_names, argocd_cm_text
from tests.support.argocd_stacks import ACTION_DATA, CUSTOMIZATION, HEALTH_DATA, expected_files

from webstack_operator.api.status_types import Phase

ARGOCD = CUSTOMIZATION.parents[2]
REWRITE = "rewrite with `python -m tests.support.argocd_stacks`, then review the expected health"


def _load(path: Any) -> Any:
    return yaml.safe_load(path.read_text())


def test_the_recorded_webstacks_are_what_the_operator_writes_today() -> None:
    expected = expected_files()
    on_disk = set(HEALTH_DATA.glob("*.yaml")) | set(ACTION_DATA.glob("*.yaml"))
    assert on_disk == set(expected), REWRITE
    for path, text in expected.items():
        assert path.read_text() == text, f"{path.name}: {REWRITE}"


def test_the_health_fixtures_cover_every_phase_and_every_recorded_object() -> None:
    cases = _load(CUSTOMIZATION / "health_test.yaml")["tests"]
    inputs = {case["inputPath"] for case in cases}
    assert inputs == {f"testdata/{p.name}" for p in HEALTH_DATA.glob("*.yaml")}
    phases = {(_load(CUSTOMIZATION / i).get("status") or {}).get("phase") for i in inputs}
    assert set(get_args(Phase)) <= phases
    statuses = {case["healthStatus"]["status"] for case in cases}
    assert statuses == {"Healthy", "Progressing", "Degraded", "Suspended"}


def test_every_action_has_a_discovery_entry_and_a_test_on_the_object_it_returns() -> None:
    assert action_names() == ["restart", "rotate-credentials"]
    tests = _load(CUSTOMIZATION / "actions" / "action_test.yaml")
    assert {t["action"] for t in tests["actionTests"]} == set(action_names())
    for discovery in tests["discoveryTests"]:
        assert [r["name"] for r in discovery["result"]] == action_names()
    for case in tests["actionTests"]:
        for key in ("inputPath", "expectedOutputPath"):
            assert (CUSTOMIZATION / "actions" / case[key]).is_file(), case[key]


def test_the_argocd_cm_keys_are_the_lua_files() -> None:
    assert CM_FILE.read_text() == argocd_cm_text(), "rewrite with `python -m tests.support.argocd_cm`"
    data = _load(CM_FILE)["data"]
    assert data[HEALTH_KEY] == (CUSTOMIZATION / "health.lua").read_text()
    actions = yaml.safe_load(data[ACTIONS_KEY])
    assert actions["discovery.lua"] == (CUSTOMIZATION / "actions" / "discovery.lua").read_text()
    assert {d["name"]: d["action.lua"] for d in actions["definitions"]} == {
        name: (CUSTOMIZATION / "actions" / name / "action.lua").read_text() for name in action_names()
    }


def test_both_kustomize_paths_carry_the_configmap() -> None:
    """`kubectl apply --server-side -k deploy/argocd` as a resource; over Argo CD's install, a component."""
    relative = str(CM_FILE.relative_to(ARGOCD))
    assert relative in _load(ARGOCD / "kustomization.yaml")["resources"]
    component = _load(CM_FILE.parent / "kustomization.yaml")
    assert component["kind"] == "Component"
    assert component["patches"] == [{"path": CM_FILE.name}]

"""deploy/argocd's WebStack health and actions, run as Argo CD runs them: gopher-lua in the argocd-cm sandbox
(tools/go/argocd-lua, built by `make cluster-binaries`) on the recorded WebStacks, against Argo CD's own
fixture files (health_test.yaml, actions/action_test.yaml). No cluster: kustomize runs from kubectl."""

from __future__ import annotations

import json
import os
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.argocd_cm import ACTIONS_KEY, CM_FILE, HEALTH_KEY
from tests.support.argocd_stacks import CUSTOMIZATION, REQUEST_TIME

from kubelocal.binaries import Binaries, argocd_lua

ACTIONS = CUSTOMIZATION / "actions"
RFC3339_UTC = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
REQUEST_ANNOTATIONS = {
    "restart": "webstack.dev/restart-backend",
    "rotate-credentials": "webstack.dev/regenerate-credentials",
}


def run_lua(mode: str, script: Path, obj: Any) -> Any:
    done = subprocess.run(
        [str(argocd_lua()), mode, str(script)],
        input=json.dumps(obj),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


HEALTH_CASES = _load(CUSTOMIZATION / "health_test.yaml")["tests"]
ACTION_TESTS = _load(ACTIONS / "action_test.yaml")


@pytest.mark.parametrize("case", HEALTH_CASES, ids=[c["inputPath"] for c in HEALTH_CASES])
def test_health(case: dict[str, Any]) -> None:
    obj = _load(CUSTOMIZATION / case["inputPath"])
    assert run_lua("health", CUSTOMIZATION / "health.lua", obj) == case["healthStatus"]


@pytest.mark.parametrize(
    "case", ACTION_TESTS["discoveryTests"], ids=[c["inputPath"] for c in ACTION_TESTS["discoveryTests"]]
)
def test_discovery(case: dict[str, Any]) -> None:
    obj = _load(ACTIONS / case["inputPath"])
    assert run_lua("discovery", ACTIONS / "discovery.lua", obj) == case["result"]


@pytest.mark.parametrize(
    "case",
    ACTION_TESTS["actionTests"],
    ids=[f"{c['action']}:{c['inputPath']}" for c in ACTION_TESTS["actionTests"]],
)
def test_action_returns_the_webstack_with_a_new_request(case: dict[str, Any]) -> None:
    obj = _load(ACTIONS / case["inputPath"])
    before = datetime.now(UTC).replace(microsecond=0)
    [written] = run_lua("action", ACTIONS / case["action"] / "action.lua", obj)
    after = datetime.now(UTC)
    assert written["operation"] == "patch"
    resource = written["resource"]
    key = REQUEST_ANNOTATIONS[case["action"]]
    requested = resource["metadata"]["annotations"][key]
    assert RFC3339_UTC.match(requested), requested
    assert before <= datetime.fromisoformat(requested) <= after  # each request is a value never used before
    resource["metadata"]["annotations"][key] = REQUEST_TIME
    assert resource == _load(ACTIONS / case["expectedOutputPath"])


def test_the_argocd_cm_scripts_give_the_same_health(tmp_path: Path) -> None:
    """What Argo CD reads from argocd-cm is the same script, and runs on its own: no file it leans on."""
    data = _load(CM_FILE)["data"]
    health = tmp_path / "health.lua"
    health.write_text(data[HEALTH_KEY])
    discovery = tmp_path / "discovery.lua"
    discovery.write_text(yaml.safe_load(data[ACTIONS_KEY])["discovery.lua"])
    for case in HEALTH_CASES:
        assert run_lua("health", health, _load(CUSTOMIZATION / case["inputPath"])) == case["healthStatus"]
    first = ACTION_TESTS["discoveryTests"][0]
    assert run_lua("discovery", discovery, _load(ACTIONS / first["inputPath"])) == first["result"]


def test_the_sandbox_is_argo_cds(tmp_path: Path) -> None:
    """The runner refuses what Argo CD's argocd-cm sandbox lacks (the string library, io), so a script
    that passes here does not lean on a looser Lua."""
    ready = _load(CUSTOMIZATION / "testdata" / "ready.yaml")
    for body in ('return {status = string.upper("healthy")}', 'io.write("x") return {}'):
        script = tmp_path / "loose.lua"
        script.write_text(body)
        done = subprocess.run(
            [str(argocd_lua()), "health", str(script)],
            input=json.dumps(ready),
            capture_output=True,
            text=True,
        )
        assert done.returncode != 0 and "attempt to index a non-table object(nil)" in done.stderr, done.stderr
    script = tmp_path / "invalid.lua"
    script.write_text('return {status = "Fine", message = "not a health status"}')
    invalid = {"status": "Unknown", "message": "Lua returned an invalid health status"}
    assert run_lua("health", script, ready) == invalid


def test_the_component_adds_the_keys_to_argo_cds_own_configmap(tmp_path: Path) -> None:
    """Over an Argo CD install's argocd-cm, kustomize keeps its keys and adds ours."""
    install = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "argocd-cm", "namespace": "argocd"},
        "data": {"url": "https://argocd.example.com"},
    }
    (tmp_path / "install.yaml").write_text(yaml.safe_dump(install))
    component = os.path.relpath(CM_FILE.parent, tmp_path)  # kustomize takes no absolute roots
    kustomization = {"resources": ["install.yaml"], "components": [component]}
    (tmp_path / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    kubectl = str(Binaries.locate().kubectl)
    built = subprocess.run(
        [kubectl, "kustomize", str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert built.returncode == 0, built.stderr
    [cm] = list(yaml.safe_load_all(built.stdout))
    ours = _load(CM_FILE)["data"]
    assert cm["data"] == {"url": "https://argocd.example.com", **ours}

"""`webstack-operator`: crd, docs, dashboard and render (the operator's own code path, offline)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from webstack_operator.api.crd import crd_yaml
from webstack_operator.cli.main import RENDER_PLACEHOLDER_PASSWORD, main

ROOT = Path(__file__).parents[4]
MINIMAL = ROOT / "deploy/samples/webstack-minimal.yaml"


def test_crd_prints_the_generated_crd(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["crd"]) == 0
    assert capsys.readouterr().out == crd_yaml()


def test_docs_and_dashboard(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["docs"]) == 0
    assert capsys.readouterr().out.startswith("# WebStack API reference")
    assert main(["dashboard"]) == 0
    assert json.loads(capsys.readouterr().out)["uid"] == "webstack-users-api"


def test_render_yaml(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "-f", str(MINIMAL)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# Rendered offline")
    docs = [d for d in yaml.safe_load_all(out) if d]
    assert docs[0]["kind"] == "ServiceAccount"
    assert all(d["metadata"]["namespace"] == "team-a" for d in docs)
    assert all("ownerReferences" not in d["metadata"] for d in docs)
    secret = next(d for d in docs if d["kind"] == "Secret")
    assert RENDER_PLACEHOLDER_PASSWORD not in out  # base64 in data
    assert secret["metadata"]["annotations"]["webstack.dev/apply-policy"] == "create-only"


def test_render_json_is_a_list_and_same_objects(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "-f", str(MINIMAL), "-o", "json", "-n", "other"]) == 0
    as_json = json.loads(capsys.readouterr().out)
    assert as_json["kind"] == "List"
    assert {o["metadata"]["namespace"] for o in as_json["items"]} == {"other"}
    assert main(["render", "-f", str(MINIMAL), "-n", "other"]) == 0
    as_yaml = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert as_yaml == as_json["items"]


def test_render_is_byte_for_byte_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    main(["render", "-f", str(ROOT / "deploy/samples/webstack-full.yaml")])
    first = capsys.readouterr().out
    main(["render", "-f", str(ROOT / "deploy/samples/webstack-full.yaml")])
    assert capsys.readouterr().out == first


def _render_error(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> str:
    path = tmp_path / "ws.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["render", "-f", str(path)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


def test_bad_field_is_reported_with_its_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _render_error(
        tmp_path,
        "apiVersion: webstack.dev/v1alpha1\nkind: WebStack\nmetadata: {name: shop}\n"
        "spec:\n  backend: {image: 'api:1', replicas: 0}\n  cache: {mode: Fast}\n",
        capsys,
    )
    assert "WebStack 'shop' is invalid" in err
    assert "spec.backend.replicas: Input should be greater than or equal to 1" in err
    assert "spec.cache.mode: 'Fast' is not one of" in err


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("kind: Deployment\napiVersion: apps/v1\n", "expected webstack.dev/v1alpha1 WebStack"),
        ("spec: [\n", "not valid YAML"),
        ("", "no WebStack in the file"),
        ("- a\n", "expected a mapping"),
        (
            "apiVersion: webstack.dev/v1alpha1\nkind: WebStack\nspec: {backend: {image: 'a:1'}}\n",
            "metadata.name",
        ),
        (
            "apiVersion: webstack.dev/v1alpha1\nkind: WebStack\nmetadata: {name: My.Shop}\n"
            "spec: {backend: {image: 'a:1'}}\n",
            "metadata.name: must be at most 40",
        ),
    ],
)
def test_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str) -> None:
    assert expected in _render_error(tmp_path, text, capsys)


def test_missing_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "-f", "/nonexistent/ws.yaml"]) == 1
    assert "cannot read" in capsys.readouterr().err

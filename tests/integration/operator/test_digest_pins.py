"""What the release's digest pins render to, with the kustomize inside the kubectl the tests build: each
image becomes `<newName>:<tag>@<digest>` (the kubelet pulls by the digest), in the operator's Deployment and
in the WebStack's `spec.backend.image`, which the operator's own spec validation accepts.
No cluster needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripts.bump_image_tag import bump_file

from kubelocal.binaries import Binaries
from webstack_operator.api.spec import parse_spec

ROOT = Path(__file__).resolve().parents[3]
TAG = "sha-0123456789ab"
DIGESTS = {"webstack-operator": "sha256:" + "a1" * 32, "users-api": "sha256:" + "b2" * 32}
# The overlays release.yaml pins (prod also pins the namespaced install), and the image each one names.
PINNED = {
    "prod": "webstack-operator",
    "prod/stack": "users-api",
    "dev": "webstack-operator",
    "dev/stack": "users-api",
    "namespaced": "webstack-operator",
}


@pytest.fixture(scope="module")
def pinned_deploy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of deploy/ with every overlay pinned as the release pins it."""
    root = tmp_path_factory.mktemp("pins")
    shutil.copytree(ROOT / "crds", root / "crds")  # the operator base includes ../../crds
    copy = root / "deploy"
    shutil.copytree(ROOT / "deploy", copy)
    for overlay, image in PINNED.items():
        changes = bump_file(
            copy / "overlays" / overlay / "kustomization.yaml", {image: f"{TAG}@{DIGESTS[image]}"}
        )
        assert len(changes) == 1, overlay
    return copy


def build(path: Path) -> list[dict[str, Any]]:
    out = subprocess.run(
        [str(Binaries.locate().kubectl), "kustomize", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def expected(path: Path, image: str) -> str:
    [entry] = yaml.safe_load((path / "kustomization.yaml").read_text())["images"]
    return f"{entry['newName']}:{TAG}@{DIGESTS[image]}"


@pytest.mark.parametrize("overlay", ["prod", "dev", "namespaced"])
def test_the_operator_runs_the_pinned_digest(pinned_deploy: Path, overlay: str) -> None:
    path = pinned_deploy / "overlays" / overlay
    [deployment] = [
        o for o in build(path) if o["kind"] == "Deployment" and o["metadata"]["name"] == "webstack-operator"
    ]
    images = [c["image"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    assert images == [expected(path, "webstack-operator")]


@pytest.mark.parametrize("overlay", ["prod/stack", "dev/stack"])
def test_the_stack_runs_the_pinned_digest_and_the_operator_accepts_it(
    pinned_deploy: Path, overlay: str
) -> None:
    path = pinned_deploy / "overlays" / overlay
    [stack] = [o for o in build(path) if o["kind"] == "WebStack"]
    assert stack["spec"]["backend"]["image"] == expected(path, "users-api")
    assert parse_spec(stack).backend.image == expected(path, "users-api")

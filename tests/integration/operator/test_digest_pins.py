"""What the release's digest pins render to, with the kustomize inside the kubectl the tests build: each
image becomes `<newName>:<tag>@<digest>` (the kubelet pulls by the digest), in the operator's Deployment and
in the WebStack's `spec.backend.image`, which the operator's own spec validation accepts; and the lab overlay
on top of dev, pinned or not, is dev with exactly the lab's changes (its image stays the lab's, whatever dev's
digest). No cluster needed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from scripts.bump_image_tag import bump_file
from tests.support.lab_overlay import expected_lab_deployment

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


def operator_deployment(objects: list[dict[str, Any]]) -> dict[str, Any]:
    [deployment] = [
        o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "webstack-operator"
    ]
    return deployment


@pytest.mark.parametrize("pinned", [False, True], ids=["dev-as-committed", "dev-pinned"])
def test_the_lab_overlay_is_dev_with_the_lab_image_placement_and_operand_images(
    pinned_deploy: Path, pinned: bool
) -> None:
    """The lab's pods would otherwise run an image containerd does not have (dev's, by its digest), on kwok
    nodes, rendering stacks that pull from Docker Hub: every other object and field is dev's."""
    overlays = (pinned_deploy if pinned else ROOT / "deploy") / "overlays"
    dev, lab = build(overlays / "dev"), build(overlays / "lab")
    dev_deployment = operator_deployment(dev)
    if pinned:
        assert dev_deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(
            DIGESTS["webstack-operator"]
        )
    assert operator_deployment(lab) == expected_lab_deployment(dev_deployment)
    assert [o for o in lab if o["kind"] != "Deployment"] == [o for o in dev if o["kind"] != "Deployment"]

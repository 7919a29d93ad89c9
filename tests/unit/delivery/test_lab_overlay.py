"""deploy/overlays/lab: dev, with the lab's operator image, the real node's placement and the lab's operand
images, and nothing else; each value is the one the lab's own definitions give (the image recipes,
REAL_NODE_PLACEMENT, lab_settings_env). Static; the built result is compared with dev's in
tests/integration/operator/test_digest_pins.py."""

from __future__ import annotations

from typing import Any

import yaml
from tests.support.lab_overlay import OPERATOR_REPOSITORY, expected_patch, recipe_reference

from labimages import read_recipe
from localdemo.lab_stack import LAB_OVERLAY


def kustomization() -> dict[str, Any]:
    return dict(yaml.safe_load((LAB_OVERLAY / "kustomization.yaml").read_text()))


def test_the_lab_overlay_is_dev_with_one_deployment_patch_and_no_image_entries() -> None:
    """No `images:`: over a digest-pinned dev an entry would have to match dev's registry name, and what
    it does to dev's digest depends on kustomize's version (the overlay's header)."""
    lab = kustomization()
    assert lab["resources"] == ["../dev"]
    assert set(lab) == {"apiVersion", "kind", "resources", "patches"}
    [patch] = lab["patches"]
    assert patch["target"] == {"kind": "Deployment", "name": "webstack-operator"}


def test_the_patch_sets_the_lab_image_the_real_nodes_placement_and_the_lab_operand_images() -> None:
    [patch] = kustomization()["patches"]
    assert yaml.safe_load(patch["patch"]) == expected_patch()


def test_the_operator_image_is_the_one_the_operator_recipe_builds() -> None:
    """The name `recipe_reference` finds is the operator recipe's (not, say, another image's of the same
    repository), so the patch names the image setup imports into the node."""
    assert recipe_reference(OPERATOR_REPOSITORY) == read_recipe("operator")["REF"]
    assert expected_patch()[0]["value"] == "webstack.lab/webstack-operator:lab"

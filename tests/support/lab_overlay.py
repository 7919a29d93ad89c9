"""The lab overlay (deploy/overlays/lab) as the lab's own definitions require it: its patch, and the dev
Deployment it must turn into. Both are derived from the lab images' recipes, REAL_NODE_PLACEMENT and
lab_settings_env, so the overlay cannot drift from what the lab builds and where its node is."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from tests.support.realnode_stack import lab_settings_env

from kubelocal.target import REAL_NODE_PLACEMENT
from labimages import LabImage, read_recipe, reference_of
from labimages.inputs import recipe_names

ROOT = Path(__file__).resolve().parents[2]
OPERATOR_REPOSITORY = "webstack.lab/webstack-operator"
_POD = "/spec/template/spec"
_CONTAINER = f"{_POD}/containers/0"

JSON = dict[str, Any]


def recipe_reference(repository: str) -> str:
    """The lab image a recipe builds, chosen as `reference_of` chooses from the index. The index records
    each recipe's REF (tools/images/build.sh commits that name) and refuses to answer while stale, so this
    is the index's answer without needing the images built."""
    images = [
        LabImage(name, read_recipe(name)["REF"], Path(), "", 0, 0.0, "", None) for name in recipe_names()
    ]
    return reference_of(repository, images)


def lab_env() -> list[JSON]:
    """The operator's env entries the overlay adds: the operand images, as the lab's tests set them."""
    return [{"name": k, "value": v} for k, v in lab_settings_env(recipe_reference).items()]


def expected_patch() -> list[JSON]:
    """The JSON6902 operations the overlay must hold, in order: image, placement, operand images."""
    escaped = {
        key.replace("~", "~0").replace("/", "~1"): v for key, v in REAL_NODE_PLACEMENT["nodeSelector"].items()
    }
    return [
        {"op": "replace", "path": f"{_CONTAINER}/image", "value": recipe_reference(OPERATOR_REPOSITORY)},
        *({"op": "add", "path": f"{_POD}/nodeSelector/{key}", "value": v} for key, v in escaped.items()),
        {"op": "add", "path": f"{_POD}/tolerations", "value": REAL_NODE_PLACEMENT["tolerations"]},
        *({"op": "add", "path": f"{_CONTAINER}/env/-", "value": entry} for entry in lab_env()),
    ]


def expected_lab_deployment(dev: JSON) -> JSON:
    """dev's built operator Deployment with exactly the lab's changes: the lab image, the real node's
    selector beside dev's and its toleration (dev has none), and the operand-image env after dev's."""
    lab = copy.deepcopy(dev)
    pod = lab["spec"]["template"]["spec"]
    assert "tolerations" not in pod, "dev tolerates something: the overlay's `add` would replace it"
    pod["nodeSelector"] = {**pod.get("nodeSelector", {}), **REAL_NODE_PLACEMENT["nodeSelector"]}
    pod["tolerations"] = copy.deepcopy(REAL_NODE_PLACEMENT["tolerations"])
    container = pod["containers"][0]
    container["image"] = recipe_reference(OPERATOR_REPOSITORY)
    container["env"] = [*container.get("env", []), *lab_env()]
    return lab

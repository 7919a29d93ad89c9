"""Each image's distributions installed into a fresh venv, as its Dockerfile installs them: what they pull in.

The users API must not pull kopf or `kubernetes`, the operator neither asyncpg nor uvicorn, and neither the
harness (kubelocal, localservices, faultproxy). Checked twice: the distributions installed in the venv
(importlib.metadata), and the modules loaded by importing the entry module (sys.modules), in an isolated
interpreter (`-I`), so nothing from the work tree or the development venv is on the path. pip fetches from
the index it is configured with (its cache makes a second run quick); about a minute in all.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
HARNESS = {"kubelocal", "localservices", "faultproxy", "labimages", "webstack-harness"}


@dataclass(frozen=True)
class Image:
    folders: tuple[str, ...]  # what the Dockerfile copies and installs, in order
    entry: str  # the module its console script runs
    scripts: tuple[str, ...]
    forbidden: frozenset[str]  # distribution and top-level module names alike


IMAGES = {
    "users-api": Image(
        folders=("contract", "webapp"),
        entry="users_api.cli",
        scripts=("users-api",),
        forbidden=frozenset({"kopf", "kubernetes", "webstack-operator", "webstack_operator", *HARNESS}),
    ),
    "webstack-operator": Image(
        folders=("contract", "operator"),
        entry="webstack_operator.cli.main",
        scripts=("webstack-operator", "kubectl-webstack"),
        forbidden=frozenset({"asyncpg", "uvicorn", "starlette", "redis", "users-api", "users_api", *HARNESS}),
    ),
}

PROBE = """
import importlib, importlib.metadata, importlib.util, json, re, sys
importlib.import_module(sys.argv[1])
names = [m.partition(".")[0] for m in sys.modules]
print(json.dumps({
    "distributions": sorted(re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower()
                            for d in importlib.metadata.distributions()),
    "modules": sorted(set(names)),
    "findable": sorted(n for n in sys.argv[2:] if importlib.util.find_spec(n) is not None),
}))
"""


def install(image: Image, tmp_path: Path) -> Path:
    """A venv without pip (the development venv's pip installs into it), holding the image's distributions."""
    source = tmp_path / "src"
    for folder in image.folders:
        shutil.copytree(
            ROOT / folder,
            source / folder,
            ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build"),
        )
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    pip = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--quiet"]
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    subprocess.run(
        [*pip, "--only-binary=:all:", *(str(source / folder) for folder in image.folders)],
        check=True,
        timeout=540,
        env=env,
        cwd=tmp_path,
    )
    return venv


def probe(venv: Path, image: Image) -> dict[str, list[str]]:
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", PROBE, image.entry, *sorted(image.forbidden)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        cwd=venv,
    )
    assert result.returncode == 0, result.stderr
    report: dict[str, list[str]] = json.loads(result.stdout)
    return report


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    """Each image's venv, installed once for the tests of this module that ask for it."""
    venvs: dict[str, Path] = {}

    def venv_of(name: str) -> Path:
        if name not in venvs:
            venvs[name] = install(IMAGES[name], tmp_path_factory.mktemp(name))
        return venvs[name]

    return venv_of


@pytest.mark.parametrize("name", IMAGES)
def test_a_fresh_venv_holds_only_what_the_image_needs(name: str, installed: Callable[[str], Path]) -> None:
    image = IMAGES[name]
    venv = installed(name)
    report = probe(venv, image)
    print(f"{name}: {len(report['distributions'])} distributions: {' '.join(report['distributions'])}")
    print(f"{name}: importing {image.entry} loads {len(report['modules'])} top-level modules")
    distributions, modules = set(report["distributions"]), set(report["modules"])
    assert {name, "webstack-contract"} <= distributions
    assert not distributions & image.forbidden, f"{name} pulls in {sorted(distributions & image.forbidden)}"
    assert not modules & image.forbidden, f"importing {image.entry} loads {sorted(modules & image.forbidden)}"
    assert not report["findable"], f"{name}'s venv can import {report['findable']}"
    for script in image.scripts:
        assert (venv / "bin" / script).is_file(), f"{name} installs no {script} script"
    help_text = subprocess.run(
        [str(venv / "bin" / image.scripts[0]), "--help"], capture_output=True, text=True, timeout=120
    )
    assert help_text.returncode == 0, help_text.stderr


def test_the_operator_renders_from_its_wheels_alone(installed: Callable[[str], Path], tmp_path: Path) -> None:
    """`render` reads the UI and its nginx template from the contract's package data: no work tree, no
    WEBSTACK_* variable (an editable install used to hide that the wheel carried neither)."""
    venv = installed("webstack-operator")
    sample = ROOT / "deploy" / "samples" / "webstack-minimal.yaml"
    env = {key: value for key, value in os.environ.items() if not key.startswith("WEBSTACK_")}
    main = "import sys; from webstack_operator.cli.main import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-I", "-c", main, "render", "-f", str(sample), "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    objects = {(o["kind"], o["metadata"]["name"]): o for o in json.loads(result.stdout)["items"]}
    data = objects["ConfigMap", "shop-frontend"]["data"]
    assert sorted(data) == ["app.js", "index.html", "nginx.conf", "styles.css"]
    assert 'set $webstack_backend "http://shop-backend.' in data["nginx.conf"]
    assert 'id="users-table"' in data["index.html"]

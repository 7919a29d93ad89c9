"""The index of built lab images (JSON, beside their archives in the cache) and the typed view of it."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from labimages.inputs import ROOT, input_hash, recipe_names

INDEX_NAME = "index.json"
_REMEDY = "run `make images` (or `bash scripts/setup.sh images`) to build them"


class LabImagesError(RuntimeError):
    """The lab images are missing or older than their recipes: building is `make images`, never a test's."""


@dataclass(frozen=True)
class LabImage:
    """One built image: what to import into containerd and what it is made of."""

    name: str  # the recipe, tools/images/<name>
    reference: str  # the lab name pods use, always webstack.lab/...
    archive: Path  # a docker-archive tar that `ctr images import` and `kind load image-archive` take
    input_hash: str
    size_bytes: int  # the image's uncompressed layers
    build_seconds: float
    base: str
    python_version: str | None


def images_dir() -> Path:
    """The cache outside the work tree: CI clones the repository afresh, an in-tree cache would be empty."""
    cache = Path(os.environ.get("WEBSTACK_CACHE", Path.home() / ".cache" / "webstack"))
    return cache / "images"


def _entry(raw: dict[str, Any]) -> LabImage:
    python = raw.get("python_version")
    return LabImage(
        name=str(raw["name"]),
        reference=str(raw["reference"]),
        archive=Path(raw["archive"]),
        input_hash=str(raw["input_hash"]),
        size_bytes=int(raw["size_bytes"]),
        build_seconds=float(raw["build_seconds"]),
        base=str(raw["base"]),
        python_version=None if python is None else str(python),
    )


def read_index(directory: Path | None = None) -> dict[str, LabImage]:
    """Every entry of the index by recipe name; an empty dict when there is no index yet."""
    path = (directory or images_dir()) / INDEX_NAME
    if not path.is_file():
        return {}
    entries = json.loads(path.read_text())["images"]
    return {image.name: image for image in map(_entry, entries)}


def write_index(images: dict[str, LabImage], directory: Path | None = None) -> Path:
    """Replace the index atomically, entries in recipe order of name."""
    path = (directory or images_dir()) / INDEX_NAME
    entries = [asdict(images[name]) | {"archive": str(images[name].archive)} for name in sorted(images)]
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"images": entries}, indent=2) + "\n")
    tmp.replace(path)
    return path


def lab_images(*, root: Path = ROOT, directory: Path | None = None) -> list[LabImage]:
    """Every lab image, checked against the recipes as they are now; raises LabImagesError naming what is
    missing or stale, so a test or the harness fails with the remedy instead of running an old image."""
    directory = directory or images_dir()
    index = read_index(directory)
    if not index:
        raise LabImagesError(f"no lab image index at {directory / INDEX_NAME}: {_REMEDY}")
    problems: list[str] = []
    images: list[LabImage] = []
    for name in recipe_names(root=root):
        image = index.get(name)
        if image is None:
            problems.append(f"{name}: not built")
        elif image.input_hash != input_hash(name, root=root):
            problems.append(f"{name}: stale (its inputs changed since {image.reference} was built)")
        elif not image.archive.is_file():
            problems.append(f"{name}: archive {image.archive} is missing")
        else:
            images.append(image)
    if problems:
        raise LabImagesError(f"lab images not up to date ({'; '.join(problems)}): {_REMEDY}")
    return images


def reference_of(repository: str, images: list[LabImage] | None = None) -> str:
    """The lab image of that repository (`webstack.lab/postgres` → its `repository:tag`), from `images` or
    the index: the tag is the recipe's, so callers name the repository only."""
    for image in lab_images() if images is None else images:
        if image.reference.rsplit(":", 1)[0] == repository:
            return image.reference
    raise LabImagesError(f"no lab image {repository}: {_REMEDY}")

"""The recipes of the lab images and the hash of everything a build reads, its cache key."""

from __future__ import annotations

import fnmatch
import hashlib
import shlex
from collections.abc import Iterator
from pathlib import Path

# The work tree this harness sits in (tools/python/labimages): installed editable, for development only.
ROOT = Path(__file__).resolve().parents[3]
RECIPES = "tools/images"
# Files of tools/images that every build reads (the driver and buildah's settings): a change rebuilds all.
SHARED_INPUTS = ("build.sh", "containers.conf")
# What .dockerignore keeps out of the build context beside the sources: never an input of an image.
_IGNORED_NAMES = ("__pycache__", "*.pyc", "*.egg-info", "build", "dist", ".venv", ".*_cache", ".hypothesis")


def read_recipe(name: str, *, root: Path = ROOT) -> dict[str, str]:
    """The KEY=value lines of tools/images/<name>/recipe.env, as the shell that sources it reads them."""
    path = root / RECIPES / name / "recipe.env"
    if not path.is_file():
        raise FileNotFoundError(f"no lab image recipe {name!r}: {path} is missing")
    recipe: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        words = shlex.split(value)
        recipe[key] = words[0] if len(words) == 1 else " ".join(words)
    return recipe


def recipe_names(*, root: Path = ROOT) -> list[str]:
    """Every recipe, bases before the images built on them (a base's key is part of theirs)."""
    names = sorted(p.parent.name for p in (root / RECIPES).glob("*/recipe.env"))
    ordered: list[str] = []

    def visit(name: str) -> None:
        base = read_recipe(name, root=root).get("BASE")
        if base and base not in ordered:
            visit(base)
        if name not in ordered:
            ordered.append(name)

    for name in names:
        visit(name)
    return ordered


def _ignored(path: Path) -> bool:
    return any(fnmatch.fnmatch(part, pattern) for part in path.parts for pattern in _IGNORED_NAMES)


def _files(folder: Path, root: Path) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(root)
        if path.is_file() and not _ignored(relative):
            yield path


def input_files(name: str, *, root: Path = ROOT) -> list[Path]:
    """What a build reads from the work tree: its recipe folder, the shared files, the Dockerfile and the
    source trees it COPYs (filtered as .dockerignore filters the context)."""
    recipe = read_recipe(name, root=root)
    files = [root / RECIPES / shared for shared in SHARED_INPUTS]
    files += _files(root / RECIPES / name, root)
    if "DOCKERFILE" in recipe:
        files.append(root / recipe["DOCKERFILE"])
        files.append(root / ".dockerignore")
        for source in recipe.get("SOURCES", "").split():
            files += _files(root / source, root)
    return files


def input_hash(name: str, *, root: Path = ROOT) -> str:
    """The cache key: paths and contents of every input, and the key of the base it is built on."""
    digest = hashlib.sha256()
    for path in input_files(name, root=root):
        digest.update(str(path.relative_to(root)).encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    base = read_recipe(name, root=root).get("BASE")
    if base:
        digest.update(b"base\0" + input_hash(base, root=root).encode())
    return digest.hexdigest()

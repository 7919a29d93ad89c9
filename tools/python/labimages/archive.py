"""What a docker-archive holds: its references and the uncompressed size of its layers."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path


def _manifest(archive: tarfile.TarFile) -> list[dict[str, object]]:
    member = archive.extractfile("manifest.json")
    if member is None:
        raise ValueError("manifest.json is not a file")
    manifest: list[dict[str, object]] = json.load(member)
    return manifest


def uncompressed_size(path: Path) -> int:
    """Bytes of the image's layer tars (a docker-archive stores them uncompressed), the image's size."""
    with tarfile.open(path) as archive:
        layers = {str(layer) for entry in _manifest(archive) for layer in _as_list(entry.get("Layers"))}
        return sum(archive.getmember(layer).size for layer in layers)


def references(path: Path) -> list[str]:
    """The RepoTags of every image in the archive: the names containerd gives them on import."""
    with tarfile.open(path) as archive:
        return [str(tag) for entry in _manifest(archive) for tag in _as_list(entry.get("RepoTags"))]


def config(path: Path) -> dict[str, object]:
    """The image configuration (user, entrypoint, env, labels under "config") of the archive's one image."""
    with tarfile.open(path) as archive:
        (entry,) = _manifest(archive)
        member = archive.extractfile(str(entry["Config"]))
        if member is None:
            raise ValueError("the image config is not a file")
        loaded: dict[str, object] = json.load(member)
        return loaded


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []

"""labimages: the content key of a lab image build, and reading the index setup writes (nothing is built)."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from labimages import LabImagesError, input_hash, lab_images, read_recipe, reference_of
from labimages.archive import config, references, uncompressed_size
from labimages.index import LabImage, read_index, write_index
from labimages.inputs import ROOT, recipe_names
from webstack_operator.config.operator_settings import OperatorSettings


def _tree(tmp_path: Path) -> Path:
    """A work tree with the real recipes, the Dockerfiles and the sources they COPY."""
    tree = tmp_path / "tree"
    shutil.copytree(ROOT / "tools" / "images", tree / "tools" / "images")
    for name in ("Dockerfile.webapp", "Dockerfile.operator", ".dockerignore"):
        shutil.copy(ROOT / name, tree / name)
    for source in ("contract", "webapp", "operator"):
        shutil.copytree(
            ROOT / source, tree / source, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    return tree


def test_every_recipe_names_a_lab_image_and_bases_come_first() -> None:
    names = recipe_names()
    assert {"python", "users-api", "operator", "postgres", "redis", "nginx", "pause"} <= set(names)
    for name in names:
        recipe = read_recipe(name)
        assert recipe["REF"].startswith("webstack.lab/"), recipe["REF"]
        if "BASE" in recipe:
            assert names.index(recipe["BASE"]) < names.index(name)


@pytest.mark.parametrize(("recipe", "major"), [("postgres", "17"), ("postgres15", "15")])
def test_the_postgres_stand_ins_keep_the_name_the_operator_computes(recipe: str, major: str) -> None:
    """The operator asks for `<WEBSTACK_POSTGRES_REPOSITORY>:<major>-alpine` (config/operator_settings.py)."""
    settings = OperatorSettings(postgres_repository="webstack.lab/postgres")
    assert read_recipe(recipe)["REF"] == settings.postgres_image(major)
    assert read_recipe(recipe)["PACKAGES"] == f"postgresql-{major}"
    assert f"/usr/lib/postgresql/{major}/bin:" in read_recipe(recipe)["IMAGE_ENV"]


def test_a_changed_input_changes_the_key_and_an_unrelated_file_does_not(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    before = {name: input_hash(name, root=tree) for name in ("users-api", "operator", "postgres", "python")}
    (tree / "README.md").write_text("not an input of any image\n")
    (tree / "webapp" / "users_api" / "__pycache__").mkdir(exist_ok=True)
    (tree / "webapp" / "users_api" / "__pycache__" / "x.pyc").write_bytes(b"ignored as .dockerignore says")
    assert {name: input_hash(name, root=tree) for name in before} == before

    (tree / "webapp" / "users_api" / "__init__.py").write_text("# changed\n", encoding="utf-8")
    assert input_hash("users-api", root=tree) != before["users-api"]
    assert input_hash("operator", root=tree) == before["operator"]
    assert input_hash("postgres", root=tree) == before["postgres"]


def test_a_changed_base_or_package_list_changes_the_key_of_what_is_built_on_it(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    before = {name: input_hash(name, root=tree) for name in ("users-api", "operator", "redis")}
    recipe = tree / "tools" / "images" / "python" / "recipe.env"
    recipe.write_text(recipe.read_text().replace('PACKAGES="python3 ', 'PACKAGES="python3 less '))
    assert input_hash("users-api", root=tree) != before["users-api"]
    assert input_hash("operator", root=tree) != before["operator"]
    assert input_hash("redis", root=tree) == before["redis"]


def _entry(name: str, archive: Path, key: str) -> LabImage:
    return LabImage(name, f"webstack.lab/{name}:lab", archive, key, 1000, 1.5, "Debian bookworm", None)


def test_lab_images_names_make_images_when_there_is_no_index(tmp_path: Path) -> None:
    with pytest.raises(LabImagesError, match="make images"):
        lab_images(directory=tmp_path)


def test_lab_images_reads_a_fresh_index_and_names_make_images_when_it_is_stale(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    index: dict[str, LabImage] = {}
    for name in recipe_names(root=tree):
        archive = cache / f"{name}.tar"
        archive.write_bytes(b"")
        index[name] = _entry(name, archive, input_hash(name, root=tree))
    write_index(index, cache)
    assert read_index(cache) == index
    assert {image.name for image in lab_images(root=tree, directory=cache)} == set(index)

    (tree / "tools" / "images" / "redis" / "docker-entrypoint.sh").write_text('#!/bin/sh\nexec "$@"\n')
    with pytest.raises(LabImagesError, match=r"redis: stale.*make images"):
        lab_images(root=tree, directory=cache)


def test_lab_images_names_a_missing_archive(tmp_path: Path) -> None:
    tree = _tree(tmp_path)
    index = {
        name: _entry(name, tmp_path / f"{name}.tar", input_hash(name, root=tree))
        for name in recipe_names(root=tree)
    }
    write_index(index, tmp_path)
    with pytest.raises(LabImagesError, match=r"archive .* is missing"):
        lab_images(root=tree, directory=tmp_path)


def _add(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def test_an_archive_size_is_its_layers_and_its_names_and_config_are_read(tmp_path: Path) -> None:
    path = tmp_path / "image.tar"
    image_config = {"config": {"User": "70:70", "Labels": {"webstack.lab/lab-image": "true"}}}
    manifest = [{"Config": "c.json", "RepoTags": ["webstack.lab/x:1"], "Layers": ["a.tar", "b.tar"]}]
    with tarfile.open(path, "w") as archive:
        _add(archive, "manifest.json", json.dumps(manifest).encode())
        _add(archive, "c.json", json.dumps(image_config).encode())
        _add(archive, "a.tar", b"x" * 300)
        _add(archive, "b.tar", b"y" * 200)
    assert uncompressed_size(path) == 500
    assert references(path) == ["webstack.lab/x:1"]
    assert config(path) == image_config


def test_the_setup_images_step_says_in_one_line_why_it_cannot_build_without_root(tmp_path: Path) -> None:
    """Not root: one line, success, nothing run (the real node, which alone needs the images, needs root)."""
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", tree / "scripts" / "setup.sh")
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "id").write_text("#!/bin/sh\necho 1000\n")
    (fake / "id").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        ["bash", str(tree / "scripts" / "setup.sh"), "images"],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    skipped = [line for line in result.stdout.splitlines() if "needs root" in line]
    assert len(skipped) == 1, result.stdout


def test_reference_of_finds_a_repository_whatever_its_tag_and_names_make_images_otherwise(
    tmp_path: Path,
) -> None:
    images = [
        LabImage(
            "pg", "webstack.lab/postgres:17-alpine", tmp_path / "pg.tar", "k", 1, 1.0, "Debian trixie", None
        ),
        LabImage("pgx", "webstack.lab/postgres-x:1", tmp_path / "x.tar", "k", 1, 1.0, "Debian trixie", None),
    ]
    assert reference_of("webstack.lab/postgres", images) == "webstack.lab/postgres:17-alpine"
    with pytest.raises(LabImagesError, match=r"no lab image webstack.lab/redis: .*make images"):
        reference_of("webstack.lab/redis", images)

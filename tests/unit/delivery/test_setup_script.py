"""scripts/setup.sh's python step, run on a copy of the work tree with a stand-in .venv (no pip runs)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
DISTRIBUTIONS = ("contract", "operator", "webapp", "tools/python")


def _copy_of_the_work_tree(tmp_path: Path) -> Path:
    """setup.sh and the pyprojects its stamp hashes; nothing else is read before the up-to-date check."""
    tree = tmp_path / "tree"
    (tree / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "setup.sh", tree / "scripts" / "setup.sh")
    for folder in ("", *DISTRIBUTIONS):
        (tree / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / folder / "pyproject.toml", tree / folder / "pyproject.toml")
    return tree


def test_an_up_to_date_venv_still_loses_the_egg_info_an_older_setup_left(tmp_path: Path) -> None:
    """The cleanup came after the stamp check, so an existing .venv kept the duplicate metadata."""
    tree = _copy_of_the_work_tree(tmp_path)
    python = tree / ".venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho 'pip must not run for an up-to-date .venv' >&2\nexit 1\n")
    python.chmod(0o755)
    pyprojects = b"".join((tree / folder / "pyproject.toml").read_bytes() for folder in ("", *DISTRIBUTIONS))
    (tree / ".venv" / ".installed").write_text(hashlib.sha256(pyprojects).hexdigest()[:16] + "\n")
    left = [tree / folder / f"{Path(folder).name}_left.egg-info" for folder in DISTRIBUTIONS]
    for egg_info in left:
        egg_info.mkdir()
    result = subprocess.run(
        ["bash", str(tree / "scripts" / "setup.sh"), "python"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert ".venv up to date" in result.stdout
    assert [p for p in left if p.exists()] == []


def test_debian_python_can_make_a_venv() -> None:
    """Debian's python3 has no ensurepip without python3-venv: `python3 -m venv` would fail."""
    text = (ROOT / "scripts" / "setup.sh").read_text()
    packages = text.split("APT_PACKAGES=(", 1)[1].split(")", 1)[0].split()
    assert "python3-venv" in packages

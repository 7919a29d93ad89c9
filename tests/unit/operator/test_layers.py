"""The floors hold: import-linter's contracts (`.importlinter`) pass, and every subpackage is on a floor.

`make lint` runs the same check; this test is how `.ci/run` holds it too.
"""

import configparser
import subprocess
import sys
from pathlib import Path

import webstack_operator

ROOT = Path(__file__).resolve().parents[3]
PACKAGE = Path(next(iter(webstack_operator.__path__)))
CONFIG = ROOT / ".importlinter"


def _floors() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    return parser["importlinter:contract:floors"]["layers"].split()


def test_every_subpackage_stands_on_a_floor() -> None:
    subpackages = sorted(
        f"webstack_operator.{p.name}" for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()
    )
    assert sorted(_floors()) == subpackages


def test_no_module_sits_in_the_package_root() -> None:
    """A module at the root would stand on no floor, and the contract would not see it."""
    assert sorted(p.name for p in PACKAGE.glob("*.py")) == ["__init__.py"]


def test_the_import_contracts_are_kept() -> None:
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run(
        [str(lint), "--no-cache", str(CONFIG)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout

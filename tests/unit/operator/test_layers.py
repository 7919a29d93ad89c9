"""The floors hold: import-linter's contracts (`.importlinter`) pass, and every subpackage is on a floor.

`make lint` runs the same check; this test is how `.ci/run` holds it too.
"""

import configparser
import io
import subprocess
import sys
import tokenize
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


def _webstack_mentions(source: str) -> list[str]:
    """Every token that names WebStack: a string (docstrings included), a comment or a name. The root
    package's own name is where the layer lives, not what it knows: `webstack_operator.kube.client`."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.NAME and token.string == "webstack_operator":
            continue
        if "webstack" in token.string.lower():
            found.append(f"{token.start[0]}: {token.line.strip()}")
    return found


def test_the_kubernetes_layer_never_names_webstack() -> None:
    """The contract `kube-knows-no-webstack` forbids the imports; this forbids the words: no field manager,
    user agent, logger or docstring of the layer names WebStack. The operator hands its identity in."""
    mentions = {
        str(path.relative_to(PACKAGE)): found
        for path in sorted((PACKAGE / "kube").rglob("*.py"))
        if (found := _webstack_mentions(path.read_text()))
    }
    assert mentions == {}

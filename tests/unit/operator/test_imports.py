"""Whole-package rules: no module but the CLI reads the environment, and every module imports alone."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import webstack_operator

PACKAGE = Path(next(iter(webstack_operator.__path__)))


def test_no_module_but_the_cli_reads_the_environment() -> None:
    readers = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
                readers.append(str(path.relative_to(PACKAGE)))
    assert sorted(set(readers)) == ["cli/main.py"]


def test_every_module_imports_alone() -> None:
    """No import cycle: each module can be the first one imported."""
    modules = sorted(
        "webstack_operator." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
        for p in PACKAGE.rglob("*.py")
        if p.name != "__init__.py"
    )
    assert "webstack_operator.controller.wiring" in modules
    script = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    for loaded in [m for m in sys.modules if m.startswith('webstack_operator')]:\n"
        "        del sys.modules[loaded]\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr

"""The size rule of the operator: no module over 400 lines, no function over 60, builders' data tables aside.

A module that reads in one sitting and a function that reads in one screen; what grows past either is split
by what it holds, not squeezed. Measured with `ast` over every module of `webstack_operator`: a module's
lines as the file has them, a function's from its `def` line to its last (decorators aside, nested
functions measured on their own too).
"""

from __future__ import annotations

import ast
from pathlib import Path

import webstack_operator

MODULE_LINES = 400
FUNCTION_LINES = 60
PACKAGE = Path(webstack_operator.__file__).parent

# Builders' data tables: one literal (a manifest or a list of panels) with nothing decided in it, read top
# to bottom. Cutting one into pieces would scatter a single table over several functions without making any
# of them clearer, so these alone may pass the function limit. Only builders/ may have entries.
DATA_TABLES: dict[tuple[str, str], str] = {
    ("builders/dashboard.py", "users_api_panels"): (
        "the users API's eight panels, one literal: each panel's title, unit, grid position and queries"
    ),
    ("builders/dashboard.py", "operator_panels"): (
        "the operator's row and four panels, one literal: each panel's title, unit, grid position and queries"
    ),
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def _function_lengths(path: Path) -> list[tuple[str, int, int]]:
    """(name, first line, length) of every function and method in the module, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return [
        (node.name, node.lineno, (node.end_lineno or node.lineno) - node.lineno + 1)
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def test_the_package_is_where_the_rule_looks() -> None:
    assert (PACKAGE / "status" / "compute.py").is_file(), PACKAGE
    assert len(_modules()) > 50


def test_no_module_is_over_400_lines() -> None:
    too_long = {
        _name(path): lines
        for path in _modules()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
    }
    assert not too_long, f"modules over {MODULE_LINES} lines (split them by what they hold): {too_long}"


def test_no_function_is_over_60_lines() -> None:
    too_long = [
        f"{_name(path)}:{line} {name} ({length} lines)"
        for path in _modules()
        for name, line, length in _function_lengths(path)
        if length > FUNCTION_LINES and (_name(path), name) not in DATA_TABLES
    ]
    assert not too_long, f"functions over {FUNCTION_LINES} lines (split them into parts): {too_long}"


def test_the_allowlists_hold_only_what_needs_them() -> None:
    """An entry outlives its reason silently otherwise: a data table that shrank or went."""
    assert all(module.startswith("builders/") for module, _ in DATA_TABLES), "data tables are builders' only"
    assert all(why.strip() for why in DATA_TABLES.values())
    lengths = {
        (_name(path), name): length for path in _modules() for name, _, length in _function_lengths(path)
    }
    stale = [entry for entry in DATA_TABLES if lengths.get(entry, 0) <= FUNCTION_LINES]
    assert not stale, f"no longer over {FUNCTION_LINES} lines (or gone): remove from DATA_TABLES: {stale}"

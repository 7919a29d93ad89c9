"""One home for test support code: a test imports shared helpers from `tests/support`, never from another
test module (whose helpers would then live where no reader looks for them, and run its tests twice over
when collected under a second name)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _imported_modules(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
    return names


def test_tests_import_helpers_only_from_tests_support() -> None:
    elsewhere = {
        str(path.relative_to(TESTS)): name
        for path in sorted(TESTS.rglob("*.py"))
        for name in _imported_modules(path)
        if name.startswith("tests.") and not name.startswith("tests.support")
    }
    assert elsewhere == {}

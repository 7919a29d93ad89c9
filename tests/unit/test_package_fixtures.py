"""A conftest's package-scoped fixture ends with its package only where the directory is a package: without
an __init__.py pytest gives it the whole session, and the real-node suites' installed operator outlived them
and reconciled the next files' stacks beside the session's own operator (twelve tests failed in CI)."""

from __future__ import annotations

import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
PACKAGE_SCOPED = re.compile(r"""scope\s*=\s*["']package["']""")


def test_every_conftest_with_package_fixtures_is_in_a_package() -> None:
    found = [c for c in TESTS.rglob("conftest.py") if PACKAGE_SCOPED.search(c.read_text())]
    assert found, "no conftest defines a package-scoped fixture: this test checks nothing"
    missing = [str(c.parent.relative_to(TESTS)) for c in found if not (c.parent / "__init__.py").exists()]
    assert missing == [], f"add an __init__.py to {missing}"

"""Each subpackage says in one paragraph what its floor holds and what it may import, and holds no code.

The `__init__.py` docstrings are the tree's table of contents: a stranger reads them to learn the
architecture, so each is one paragraph (no blank line inside) and stands alone, with the code in modules a
reader can find by name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import webstack_operator

PACKAGE = Path(next(iter(webstack_operator.__path__)))


def _inits() -> dict[str, ast.Module]:
    return {
        str(path.relative_to(PACKAGE)): ast.parse(path.read_text())
        for path in sorted(PACKAGE.rglob("__init__.py"))
    }


def test_every_subpackage_docstring_is_one_paragraph() -> None:
    docstrings = {name: ast.get_docstring(tree, clean=True) or "" for name, tree in _inits().items()}
    assert "kube/__init__.py" in docstrings and "cli/plan/__init__.py" in docstrings
    assert {name for name, doc in docstrings.items() if not doc} == set()
    assert {name: doc for name, doc in docstrings.items() if "\n\n" in doc.strip()} == {}


def test_no_subpackage_init_holds_code() -> None:
    with_code = {
        name
        for name, tree in _inits().items()
        if len(tree.body) > (1 if ast.get_docstring(tree) is not None else 0)
    }
    assert with_code == set()

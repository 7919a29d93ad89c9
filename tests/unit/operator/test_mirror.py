"""The operator's unit tests mirror its package: a folder per subpackage, each test beside what it tests.

A test of one module lives in `tests/unit/operator/<subpackage>/`; only tests of the whole package (sizes,
imports, this one) stand at the top. A test named after a module (`test_<module>.py`, a nested module
joined with `_`: `cli/plan/view.py` is `test_plan_view.py`) stands in the folder of a subpackage that holds
that module, so a reader finds the tests of `reconcile/decisions.py` without searching.
"""

from __future__ import annotations

from pathlib import Path

import webstack_operator

PACKAGE = Path(next(iter(webstack_operator.__path__)))
TESTS = Path(__file__).resolve().parent


def subpackages() -> set[str]:
    return {path.parent.name for path in PACKAGE.glob("*/__init__.py")}


def unit_test_files() -> list[Path]:
    return sorted(path.relative_to(TESTS) for path in TESTS.rglob("test_*.py"))


def folders_in_use() -> set[str]:
    return {path.parts[0] for path in unit_test_files() if len(path.parts) > 1}


def module_homes() -> dict[str, set[str]]:
    """Each module's name as its test file spells it, and the subpackages that hold a module of that name."""
    homes: dict[str, set[str]] = {}
    for subpackage in subpackages():
        for path in (PACKAGE / subpackage).rglob("*.py"):
            parts = path.relative_to(PACKAGE / subpackage).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            if parts:
                homes.setdefault("_".join(parts), set()).add(subpackage)
    return homes


def test_every_test_folder_is_a_subpackage() -> None:
    strays = folders_in_use() - subpackages()
    assert not strays, f"test folders with no subpackage of that name in {PACKAGE}: {sorted(strays)}"


def test_every_subpackage_has_unit_tests() -> None:
    untested = subpackages() - folders_in_use()
    assert not untested, f"subpackages without a folder of unit tests in {TESTS}: {sorted(untested)}"


def test_a_test_named_after_a_module_stands_in_its_subpackage_folder() -> None:
    homes = module_homes()
    misplaced = {
        str(path): sorted(homes[name])
        for path in unit_test_files()
        if (name := path.stem.removeprefix("test_")) in homes
        and (path.parts[0] if len(path.parts) > 1 else None) not in homes[name]
    }
    assert not misplaced, f"tests to move (test file: the subpackages holding its module): {misplaced}"

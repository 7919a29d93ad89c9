"""The distributions and what they declare: each pyproject names exactly what its packages import.

Read from the source (every `import`, lazy ones inside functions included), so a new import without its
dependency, or a dependency nothing imports any more, fails here rather than in an image. The fresh-venv
install of each image's distributions is tests/integration/delivery/test_distributions.py.
"""

from __future__ import annotations

import ast
import importlib.metadata
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[3]

# Folder -> the import packages its pyproject ships (docs/architecture.md, "Distributions").
DISTRIBUTIONS = {
    "contract": ("webstack_contract",),
    "operator": ("webstack_operator",),
    "webapp": ("users_api",),
    "tools/python": ("kubelocal", "localservices", "localdemo", "faultproxy", "labimages"),
}
HARNESS = DISTRIBUTIONS["tools/python"]


def pyproject(folder: str) -> dict[str, object]:
    return tomllib.loads((ROOT / folder / "pyproject.toml").read_text())


def project(folder: str) -> dict[str, object]:
    table = pyproject(folder)["project"]
    assert isinstance(table, dict)
    return table


def distribution_name(folder: str) -> str:
    return canonicalize_name(str(project(folder)["name"]))


def declared(folder: str) -> set[str]:
    dependencies = project(folder).get("dependencies", [])
    assert isinstance(dependencies, list)
    return {canonicalize_name(Requirement(line).name) for line in dependencies}


def imported_modules(package_dir: Path) -> Iterator[tuple[str, Path]]:
    """Each absolute import's top-level module, with the file that imports it."""
    for path in sorted(package_dir.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield alias.name.partition(".")[0], path
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                yield node.module.partition(".")[0], path


def local_packages() -> dict[str, str]:
    """Import package -> the distribution (of this repository) that ships it."""
    return {pkg: distribution_name(folder) for folder, packages in DISTRIBUTIONS.items() for pkg in packages}


def imported_distributions(folder: str) -> dict[str, set[str]]:
    """Distribution -> the files importing it, for the non-stdlib imports of a folder's packages."""
    own = set(DISTRIBUTIONS[folder])
    local = local_packages()
    installed = importlib.metadata.packages_distributions()
    found: dict[str, set[str]] = {}
    for package in own:
        for module, path in imported_modules(ROOT / folder / package):
            if module in own or module in sys.stdlib_module_names or module == "__future__":
                continue
            names = [local[module]] if module in local else installed.get(module)
            assert names, f"{path.relative_to(ROOT)} imports {module}, which no installed distribution has"
            for name in names:
                found.setdefault(canonicalize_name(name), set()).add(str(path.relative_to(ROOT)))
    return found


@pytest.mark.parametrize("folder", DISTRIBUTIONS)
def test_each_distribution_declares_exactly_what_it_imports(folder: str) -> None:
    imports = imported_distributions(folder)
    missing = {name: sorted(files)[:3] for name, files in imports.items() if name not in declared(folder)}
    unused = declared(folder) - set(imports)
    assert not missing, f"{folder}/pyproject.toml lacks dependencies its code imports: {missing}"
    assert not unused, f"{folder}/pyproject.toml declares dependencies it never imports: {sorted(unused)}"


@pytest.mark.parametrize("folder", DISTRIBUTIONS)
def test_each_distribution_ships_its_packages(folder: str) -> None:
    for package in DISTRIBUTIONS[folder]:
        assert (ROOT / folder / package / "__init__.py").is_file(), f"{folder}/{package}"


def test_neither_program_carries_the_other_or_the_harness() -> None:
    """The operator and the users API meet only in the contract; the harness is in no program's closure."""
    operator, users_api = declared("operator"), declared("webapp")
    contract = distribution_name("contract")
    assert contract in operator and contract in users_api
    assert distribution_name("webapp") not in operator
    assert distribution_name("operator") not in users_api
    harness = distribution_name("tools/python")
    for folder in ("contract", "operator", "webapp"):
        assert harness not in declared(folder), folder
        assert not set(imported_distributions(folder)) & {harness}, folder
    assert not {"kopf", "kubernetes"} & users_api
    assert not {"asyncpg", "uvicorn", "starlette", "redis"} & operator
    assert declared("contract") <= {"orjson"}, "the contract stays light: standard library and orjson"


def test_the_root_pyproject_is_the_workspace_not_a_distribution() -> None:
    """Nothing can install the root by mistake (an image, `pip install .`): it has no project to build."""
    root = pyproject(".")
    assert "project" not in root and "build-system" not in root
    assert {"test", "dev"} <= set(root["dependency-groups"])  # type: ignore[arg-type]


def dependency_group(name: str) -> set[str]:
    """The requirements of a root dependency group (its include-group entries aside)."""
    group = pyproject(".")["dependency-groups"][name]  # type: ignore[index]
    return {canonicalize_name(Requirement(line).name) for line in group if isinstance(line, str)}


def test_the_tests_declare_what_they_import() -> None:
    """A module the tests import comes from a distribution here or the root's `test` group, never only
    because something else happens to pull it in (as pytest brought `packaging`)."""
    local = local_packages()
    installed = importlib.metadata.packages_distributions()
    available = dependency_group("test") | set(local.values())
    for folder in DISTRIBUTIONS:
        available |= declared(folder)
    missing: dict[str, set[str]] = {}
    for path in [ROOT / "conftest.py", ROOT / "tests"]:
        files = [path] if path.is_file() else sorted(path.rglob("*.py"))
        for file in files:
            for node in ast.walk(ast.parse(file.read_text(), str(file))):
                modules = []
                if isinstance(node, ast.Import):
                    modules = [alias.name.partition(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module.partition(".")[0]]
                for module in modules:
                    if module in sys.stdlib_module_names or module in local or module == "__future__":
                        continue
                    if (ROOT / module).is_dir():
                        continue  # a folder of the work tree: tests, scripts, bench
                    names = {canonicalize_name(n) for n in installed.get(module, [module])}
                    if not names & available:
                        missing.setdefault(module, set()).add(str(file.relative_to(ROOT)))
    assert not missing, f"the tests import modules nothing declares: {missing}"

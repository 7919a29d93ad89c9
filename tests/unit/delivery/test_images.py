"""The two Dockerfiles: each image runs the very command the tests run, as a numeric non-root user, from a
slim base pinned by tag and digest, with OCI labels and no build tools in the final stage, and installs only
its own distribution and the shared contract (never the other program, the harness or the dev workspace).

No Docker engine is needed: the Dockerfiles are parsed (exec-form instructions are JSON)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from tests.support.operator import operator_command

import localservices

ROOT = Path(__file__).resolve().parents[3]
OPERATOR = ROOT / "Dockerfile.operator"
WEBAPP = ROOT / "Dockerfile.webapp"
DOCKERFILES = [OPERATOR, WEBAPP]
RELEASE = ROOT / ".github" / "workflows" / "release.yaml"
# What each image's build stage copies and installs: its own distribution and the contract, each a folder
# with its own pyproject (docs/architecture.md, "Distributions").
DISTRIBUTIONS = {OPERATOR: ["contract", "operator"], WEBAPP: ["contract", "webapp"]}

OCI_LABELS = ("title", "description", "source", "licenses", "version", "revision", "created")
BUILD_TOOLS = re.compile(
    r"\b(gcc|g\+\+|clang|build-essential|make|cmake|libc6-dev|python3-dev|cargo|rustc)\b"
)
PINNED_SLIM = re.compile(r"^(docker\.io/library/)?python:\d+\.\d+\.\d+-slim(-[a-z]+)?@sha256:[0-9a-f]{64}$")
PINNED_FRONTEND = re.compile(r"# syntax=docker/dockerfile:\d+(\.\d+)*@sha256:[0-9a-f]{64}")


@dataclass
class Stage:
    base: str
    name: str | None
    instructions: list[tuple[str, str]] = field(default_factory=list)

    def all(self, keyword: str) -> list[str]:
        return [args for kw, args in self.instructions if kw == keyword]


@dataclass
class Dockerfile:
    args: dict[str, str]  # ARGs before the first FROM, with their defaults
    stages: list[Stage]

    @property
    def final(self) -> Stage:
        return self.stages[-1]

    def resolve(self, text: str) -> str:
        return re.sub(r"\$\{?(\w+)\}?", lambda m: self.args.get(m.group(1), m.group(0)), text)


def parse_dockerfile(path: Path) -> Dockerfile:
    """Instructions per stage, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        logical.append(pending + line)
        pending = ""
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for line in logical:
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "FROM":
            words = [w for w in rest.split() if not w.startswith("--")]
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else None
            stages.append(Stage(base=words[0], name=name))
        elif not stages:
            if keyword == "ARG":
                key, _, default = rest.partition("=")
                args[key] = default
        else:
            stages[-1].instructions.append((keyword, rest))
    return Dockerfile(args=args, stages=stages)


def exec_form(args: str, where: str) -> list[str]:
    try:
        value = json.loads(args)
    except ValueError:
        pytest.fail(f"{where}: not exec form (a JSON array): {args}")
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), where
    return value


def entrypoint(path: Path) -> list[str]:
    final = parse_dockerfile(path).final
    entrypoints = final.all("ENTRYPOINT")
    assert entrypoints, f"{path.name}: the final stage has no ENTRYPOINT"
    assert not final.all("CMD"), f"{path.name}: a CMD would add arguments the tests do not pass"
    return exec_form(entrypoints[-1], f"{path.name} ENTRYPOINT")


def labels(stage: Stage) -> dict[str, str]:
    found: dict[str, str] = {}
    for args in stage.all("LABEL"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            found[key] = value
    return found


def env(stage: Stage) -> dict[str, str]:
    found: dict[str, str] = {}
    for args in stage.all("ENV"):
        for word in shlex.split(args):
            key, _, value = word.partition("=")
            found[key] = value
    return found


def users_api_command_the_tests_run(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The argv the integration tests' `UsersApiServer` starts, captured instead of spawned."""
    spawned: list[list[str]] = []

    class Captured(localservices.UsersApiServer):
        def _spawn(self, argv: list[str], *, env: object = None) -> None:
            spawned.append(argv)

    server = Captured(env={})
    try:
        server.start()
    finally:
        server.cleanup()
    assert len(spawned) == 1
    return spawned[0]


def as_image_runs_it(argv: list[str]) -> list[str]:
    """The tests run the console script by path from the venv; the image finds it on PATH."""
    return [Path(argv[0]).name, *argv[1:]]


def test_the_operator_image_runs_what_the_tests_run() -> None:
    assert entrypoint(OPERATOR) == ["webstack-operator", "run"]
    assert entrypoint(OPERATOR) == as_image_runs_it(operator_command())


def test_the_users_api_image_runs_what_the_tests_run(monkeypatch: pytest.MonkeyPatch) -> None:
    assert entrypoint(WEBAPP) == ["users-api", "serve"]
    assert entrypoint(WEBAPP) == as_image_runs_it(users_api_command_the_tests_run(monkeypatch))


def external_bases(dockerfile: Dockerfile) -> list[str]:
    """The images the stages start from, other than earlier stages."""
    stage_names = {s.name for s in dockerfile.stages}
    bases = [dockerfile.resolve(stage.base) for stage in dockerfile.stages]
    return [base for base in bases if base not in stage_names]


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_multi_stage_from_a_slim_base_pinned_by_digest(path: Path) -> None:
    """A tag can be moved by whoever pushes to it; a digest names exactly the bytes that were reviewed."""
    dockerfile = parse_dockerfile(path)
    assert len(dockerfile.stages) >= 2, f"{path.name}: build and runtime stages expected"
    bases = external_bases(dockerfile)
    assert bases, f"{path.name}: no base image"
    for base in bases:
        assert PINNED_SLIM.match(base), f"{path.name}: base {base!r} is not python:X.Y.Z-slim@sha256:<digest>"
    assert len(set(bases)) == 1, f"{path.name}: build and runtime stages start from different bases {bases}"


def test_both_images_share_one_base() -> None:
    """One base to patch and scan: the operator and the users API run the same Python and Debian."""
    assert external_bases(parse_dockerfile(OPERATOR)) == external_bases(parse_dockerfile(WEBAPP))


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_buildkit_frontend_is_pinned_by_digest(path: Path) -> None:
    """The `# syntax=` image runs inside the build with access to the context: it is code, pinned as such."""
    first_line = path.read_text().splitlines()[0]
    assert PINNED_FRONTEND.fullmatch(first_line), f"{path.name}: first line {first_line!r}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_runs_as_a_numeric_non_root_user(path: Path) -> None:
    users = parse_dockerfile(path).final.all("USER")
    assert users, f"{path.name}: the final stage has no USER (it would run as root)"
    user = users[-1]
    assert re.fullmatch(r"[0-9]+(:[0-9]+)?", user), f"{path.name}: USER {user!r} is not numeric"
    assert all(int(part) != 0 for part in user.split(":")), f"{path.name}: USER {user} is root"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_oci_labels(path: Path) -> None:
    found = labels(parse_dockerfile(path).final)
    missing = [k for k in OCI_LABELS if not found.get(f"org.opencontainers.image.{k}")]
    assert not missing, f"{path.name}: missing OCI labels {missing}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_final_stage_installs_no_build_tools(path: Path) -> None:
    final = parse_dockerfile(path).final
    for run in final.all("RUN"):
        assert not BUILD_TOOLS.search(run), f"{path.name}: final stage RUN installs build tools: {run}"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_read_only_root_friendly(path: Path) -> None:
    """Python writes nothing at run time: no bytecode cache next to the code."""
    assert env(parse_dockerfile(path).final).get("PYTHONDONTWRITEBYTECODE") == "1", path.name


def test_the_operator_image_reads_the_frontend_from_the_contract() -> None:
    """The UI travels as package data of the contract (in the venv), not as a folder copied beside it:
    a plain `pip install ./contract ./operator` and the image then render the same ConfigMap."""
    final = parse_dockerfile(OPERATOR).final
    assert "WEBSTACK_FRONTEND_DIR" not in env(final), "the default is the contract's own files"
    copies = [c for c in final.all("COPY") if not c.startswith("--from")]
    assert not copies, f"Dockerfile.operator: the final stage copies from the build context: {copies}"


COMMAND_SOURCE = re.compile(r"\((tools/python/[\w/]+\.py)\b")


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_the_header_names_where_the_tests_start_the_command(path: Path) -> None:
    """The comment that says which harness module runs the image's command names one that does."""
    header = path.read_text().split("\n\n", 1)[0]
    named = COMMAND_SOURCE.search(header)
    assert named, f"{path.name}: the header names no tools/python module that starts the command"
    program = entrypoint(path)[0]
    assert f'console_script("{program}")' in (ROOT / named.group(1)).read_text(), (path.name, named.group(1))


def context_copies(path: Path, *, final_stage: bool = False) -> list[str]:
    """The build context's paths that the build stages (and the final one if asked) COPY."""
    stages = parse_dockerfile(path).stages
    sources = []
    for stage in stages if final_stage else stages[:-1]:
        for args in stage.all("COPY"):
            if args.startswith("--from"):
                continue  # from another stage, not from the build context
            words = [w for w in args.split() if not w.startswith("--")]
            sources += [source.rstrip("/").removeprefix("./") for source in words[:-1]]
    return sources


def pip_installs(path: Path) -> list[str]:
    """What the build stage's `pip install` commands name (options dropped), in order."""
    named = []
    for stage in parse_dockerfile(path).stages[:-1]:
        for run in stage.all("RUN"):
            for command in run.split("&&"):
                words = shlex.split(command)
                if "pip" in Path(words[0]).name and words[1:2] == ["install"]:
                    named += [w.removeprefix("./") for w in words[2:] if not w.startswith("-")]
    return named


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_each_image_copies_only_its_own_distribution_and_the_contract(path: Path) -> None:
    """Not the other program, not the harness under tools/, not the root pyproject (the dev workspace)."""
    assert sorted(context_copies(path)) == sorted(DISTRIBUTIONS[path]), path.name
    for folder in DISTRIBUTIONS[path]:
        assert (ROOT / folder / "pyproject.toml").is_file(), f"{folder} is not a distribution"


@pytest.mark.parametrize("path", DOCKERFILES, ids=lambda p: p.name)
def test_each_image_installs_only_its_own_distribution_and_the_contract(path: Path) -> None:
    assert pip_installs(path) == DISTRIBUTIONS[path], path.name


def test_a_change_to_what_an_image_copies_releases_it() -> None:
    """The release's IMAGE_INPUTS (git pathspecs) cover every path of the build context an image copies."""
    inputs = yaml.safe_load(RELEASE.read_text())["env"]["IMAGE_INPUTS"].split()
    for path in DOCKERFILES:
        assert path.name in inputs
        for source in context_copies(path, final_stage=True):
            assert any(source == i or source.startswith(f"{i}/") for i in inputs), (path.name, source)


def dockerignore_excludes(patterns: list[str], path: str) -> bool:
    """Docker's rule for a context path: the last pattern matching it or a folder above it decides, and a
    `!` pattern keeps. `**` matches any number of folders (fnmatch's `*` crosses `/` too: close enough for
    these patterns, which name whole folders or suffixes)."""
    parts = path.split("/")
    excluded = False
    for pattern in patterns:
        keep = pattern.startswith("!")
        glob = pattern.removeprefix("!").strip("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        globs = {glob, glob.removeprefix("**/")} if glob.startswith("**/") else {glob}
        if any(
            fnmatch.fnmatchcase(c, g) or fnmatch.fnmatchcase(c, f"*/{g}") for c in candidates for g in globs
        ):
            excluded = not keep
    return excluded


def dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_the_build_context_holds_what_the_images_copy_and_no_development_clutter() -> None:
    patterns = dockerignore()
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    for path in DOCKERFILES:
        for source in context_copies(path, final_stage=True):
            files = [f for f in tracked if f == source or f.startswith(f"{source}/")]
            assert files, (path.name, source)
            dropped = [f for f in files if dockerignore_excludes(patterns, f)]
            assert not dropped, f".dockerignore drops what {path.name} copies: {dropped[:5]}"
    for clutter in (
        ".venv/bin/python",
        ".git/HEAD",
        "tests/unit/delivery/test_images.py",
        "docs/architecture.md",
        "tools/python/pyproject.toml",
        "operator/webstack_operator/__pycache__/__init__.cpython-311.pyc",
        "contract/webstack_contract.egg-info/PKG-INFO",
        "operator/.import_linter_cache/x",
        "webapp/.mypy_cache/3.11/x.json",
        ".ruff_cache/CACHEDIR.TAG",
        ".pytest_cache/README.md",
    ):
        assert dockerignore_excludes(patterns, clutter), f".dockerignore sends {clutter} to the build"

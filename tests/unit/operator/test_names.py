"""One word per idea in the operator package: types and functions that do not collide, the glossary followed.

A name used for two things makes a reader open both to know which is meant; a word the glossary
(docs/architecture.md, "Glossary") retired creeps back one identifier at a time. Both are cheap to hold
from the source text alone, so they are held here rather than left to review.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from collections import defaultdict
from pathlib import Path

ROOT = next(p for p in Path(__file__).resolve().parents if (p / "operator" / "webstack_operator").is_dir())
PACKAGE = ROOT / "operator" / "webstack_operator"
ARCHITECTURE = ROOT / "docs" / "architecture.md"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _relative(path: Path) -> str:
    return str(path.relative_to(PACKAGE))


def _glossary() -> str:
    text = ARCHITECTURE.read_text()
    start = text.index("\n## Glossary\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def _retired_words() -> list[str]:
    line = re.search(r"^Retired words: (.+)$", _glossary(), re.MULTILINE)
    assert line is not None, "the glossary lists its retired words on one line: 'Retired words: *a*, *b*.'"
    return re.findall(r"\*([a-z-]+)\*", line.group(1))


def test_no_two_classes_in_the_operator_share_a_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                where[node.name].append(f"{_relative(path)}:{node.lineno}")
    shared = {name: places for name, places in where.items() if len(places) > 1}
    assert shared == {}, f"one name, several classes (rename each to say what it is): {shared}"


# Public functions that may share a name across modules, because both mean the same thing. Each entry says
# which modules and why; anything else defined twice is two ideas under one word.
SAME_IDEA_FUNCTIONS = {
    # kopf's handler (controller/handlers.py) and the function it delegates to, translating its errors for
    # kopf: the login (kube/connection.py) and the deletion (reconcile/deletion.py) they are named after.
    "login",
    "finalize",
}

_CAP_WORDS = re.compile(r"^_?[A-Z](?=.*[a-z])[A-Za-z0-9]*$")  # a type's spelling: CapWords, not a CONSTANT


def _type_alias_names(node: ast.stmt) -> list[str]:
    """The names a module-level assignment gives to a type (`JSON = dict[str, Any]`, `Tell = Callable[...]`,
    `Phase = Literal[...]`, `FieldsV1 = JSON`): a CapWords name bound to a subscript, a union or a name."""
    if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
        return []
    if not isinstance(node.value, ast.Subscript | ast.BinOp | ast.Name | ast.Attribute):
        return []
    return [t.id for t in _targets(node) if isinstance(t, ast.Name) and _CAP_WORDS.match(t.id)]


def test_no_two_module_level_types_share_a_name() -> None:
    """Classes and type aliases are one namespace to a reader: `Phase` the Literal and `Phase` the class
    are two ideas under one word, and so is one alias defined in two modules."""
    where: dict[str, list[str]] = defaultdict(list)
    for path in _modules():
        for node in ast.parse(path.read_text(), str(path)).body:
            names = [node.name] if isinstance(node, ast.ClassDef) else _type_alias_names(node)
            for name in names:
                where[name].append(f"{_relative(path)}:{node.lineno}")
    shared = {name: places for name, places in where.items() if len(places) > 1}
    assert shared == {}, f"one name, several types (define it once, or rename each): {shared}"


def test_no_two_modules_define_a_public_function_of_one_name() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in _modules():
        for node in ast.parse(path.read_text(), str(path)).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
                where[node.name].append(f"{_relative(path)}:{node.lineno}")
    shared = {n: places for n, places in where.items() if len(places) > 1 and n not in SAME_IDEA_FUNCTIONS}
    assert shared == {}, f"one name, several functions (rename each to say what it does): {shared}"
    stale = {n for n in SAME_IDEA_FUNCTIONS if len(where[n]) < 2}
    assert stale == set(), f"allowed as the same idea, but no longer defined twice: {stale}"


def test_one_json_type() -> None:
    """`JSON` means one thing: the alias in kube/jsondata.py, imported everywhere else."""
    defined = [
        f"{_relative(path)}:{node.lineno}"
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Assign | ast.AnnAssign)
        and any(isinstance(t, ast.Name) and t.id == "JSON" for t in _targets(node))
    ]
    assert [d.partition(":")[0] for d in defined] == ["kube/jsondata.py"], defined


def test_a_json_object_is_spelled_json() -> None:
    """Not `dict[str, Any]` beside it, nor another alias of it (`Manifest`): a reader meets one word."""
    spelled = [
        f"{_relative(path)}:{number}"
        for path in _modules()
        if _relative(path) != "kube/jsondata.py"
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if "dict[str, Any]" in line
    ]
    assert spelled == [], f"use JSON (kube/jsondata.py): {spelled}"


def _targets(node: ast.Assign | ast.AnnAssign) -> list[ast.expr]:
    return list(node.targets) if isinstance(node, ast.Assign) else [node.target]


def test_the_glossary_defines_the_words_for_something_wrong() -> None:
    glossary = _glossary()
    for term in ("problem", "failure", "finding", "blocker", "verdict"):
        assert re.search(rf"^- \*\*{term}\*\*", glossary, re.MULTILINE), f"no glossary entry: {term}"
    assert _retired_words(), "the glossary names the words it retired"


def test_no_retired_word_in_the_operators_names_docstrings_or_comments() -> None:
    retired = _retired_words()
    found = []
    for path in _modules():
        for token in tokenize.generate_tokens(io.StringIO(path.read_text()).readline):
            if token.type not in (tokenize.NAME, tokenize.COMMENT, tokenize.STRING):
                continue
            for word in retired:
                if word in token.string.lower():
                    found.append(f"{_relative(path)}:{token.start[0]}: {word!r} in {token.string[:60]!r}")
    assert found == [], "the glossary retired these words (use its word instead):\n" + "\n".join(found)


def test_a_verdict_is_a_decided_condition() -> None:
    """The glossary's verdict: a condition a pure rule decided, so a class of that name has its reason and
    message (whose an object is, or what a plan would do, are not verdicts)."""
    wrong = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Verdict"):
                members = {
                    n.target.id
                    for n in node.body
                    if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name)
                } | {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
                if not {"reason", "message"} <= members:
                    wrong.append(f"{_relative(path)}:{node.lineno} {node.name}")
    assert wrong == [], f"named a verdict but no condition (no reason and message): {wrong}"

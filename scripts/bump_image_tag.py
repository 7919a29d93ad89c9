#!/usr/bin/env python3
"""Set the `newTag` of named images in a kustomization.yaml, changing nothing else in the file.

    scripts/bump_image_tag.py deploy/overlays/prod/kustomization.yaml webstack-operator=sha-1a2b3c4d5e6f

The release workflow runs this after pushing the images; Argo CD deploys the commit. Only the value on each
named image's `newTag:` line is rewritten: comments, ordering, quoting of other values, blank lines and line
endings stay byte-for-byte, so the commit's diff is exactly the tags. A YAML library would reformat the file
and drop its comments, hence a small line-based editor for the one shape kustomize documents:

    images:
      - name: webstack-operator      # block style, any key order, `- ` indented or not
        newName: 1234.dkr.ecr.eu-west-1.amazonaws.com/webstack-operator
        newTag: "0.1.0"               # quoted or not; a trailing comment is kept

Exit status: 0 when the file is as asked (changed or already so), 2 on a usage or file-shape error (the file
is then left untouched).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

# The reference grammar of a Docker tag.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
TOP_LEVEL_IMAGES = re.compile(r"images:[ \t]*(#.*)?")
# `key: value  # comment`, the value plain, "double" or 'single' quoted.
ENTRY = re.compile(
    r"(?P<lead>[ \t]*(?:-[ \t]+)?)(?P<key>[A-Za-z]+)(?P<sep>[ \t]*:[ \t]*)"
    r"(?P<value>\"[^\"]*\"|'[^']*'|[^\s#'\"][^#]*?)?(?P<rest>[ \t]*(?:#.*)?)"
)
# Plain scalars that YAML 1.1 or 1.2 would read as something other than a string.
NON_STRING_WORDS = frozenset(
    ["y", "n", "yes", "no", "on", "off", "true", "false", "null", "~", ".inf", "-.inf", ".nan"]
)
NON_STRING_NUMBER = re.compile(
    r"[-+]?(?:0b[01_]+|0o?[0-7_]+|0x[0-9a-fA-F_]+|[0-9][0-9_]*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?"
    r"|\.[0-9_]+(?:[eE][-+]?[0-9]+)?)"
)


class BumpError(Exception):
    """The file cannot be edited as asked; the message says which file, line or image."""


@dataclass
class _Item:
    """One entry of `images:`: where its `name` and `newTag` values are."""

    name: str | None = None
    tag_line: int | None = None


def _split_eol(line: str) -> tuple[str, str]:
    body = line.rstrip("\r\n")
    return body, line[len(body) :]


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def needs_quotes(tag: str) -> bool:
    """True when a plain `newTag: <tag>` would not be read back as the string `tag` (e.g. 1.10, 2024, on)."""
    return tag.lower() in NON_STRING_WORDS or NON_STRING_NUMBER.fullmatch(tag) is not None


def _format(tag: str, old_value: str) -> str:
    if old_value[:1] in ("'", '"'):
        return f"{old_value[0]}{tag}{old_value[0]}"
    return f'"{tag}"' if needs_quotes(tag) else tag


def _image_items(lines: list[str], path: str) -> list[_Item]:
    """The entries of the top-level `images:` list, with the line numbers of their values."""
    start = next((i for i, line in enumerate(lines) if TOP_LEVEL_IMAGES.fullmatch(_split_eol(line)[0])), None)
    if start is None:
        raise BumpError(f"{path}: no top-level `images:` list")
    items: list[_Item] = []
    key_column: int | None = None
    for number in range(start + 1, len(lines)):
        body, _ = _split_eol(lines[number])
        stripped = body.lstrip(" \t")
        if not stripped or stripped.startswith("#"):
            continue
        indent = len(body) - len(stripped)
        if indent == 0 and not stripped.startswith("-"):
            break  # the next top-level key: `images:` has ended
        match = ENTRY.fullmatch(body)
        if stripped.startswith("-"):
            if match is None or not match.group("lead").strip():
                raise BumpError(f"{path}:{number + 1}: expected `- key: value` in images:, got {stripped!r}")
            items.append(_Item())
            key_column = len(match.group("lead"))
        elif key_column is None or indent != key_column:
            raise BumpError(f"{path}:{number + 1}: unexpected indentation in images:")
        if match is None or match.group("value") is None:
            raise BumpError(f"{path}:{number + 1}: expected `key: value` in images:, got {stripped!r}")
        key, value = match.group("key"), match.group("value")
        if key == "name":
            items[-1].name = _unquote(value)
        elif key == "newTag":
            items[-1].tag_line = number
    return items


def bump_text(text: str, tags: Mapping[str, str], path: str = "kustomization.yaml") -> tuple[str, list[str]]:
    """The file with each named image's newTag set; and a line per change, for the log."""
    for name, tag in tags.items():
        if not TAG.fullmatch(tag):
            raise BumpError(f"{name}={tag}: not a valid image tag (letters, digits, _ . -; at most 128)")
    lines = text.splitlines(keepends=True)
    items = {item.name: item for item in _image_items(lines, path) if item.name is not None}
    changes: list[str] = []
    for name, tag in tags.items():
        item = items.get(name)
        if item is None:
            known = ", ".join(sorted(items)) or "none"
            raise BumpError(f"{path}: no image named {name!r} in images: (found: {known})")
        if item.tag_line is None:
            raise BumpError(f"{path}: image {name!r} has no newTag: to set")
        body, eol = _split_eol(lines[item.tag_line])
        match = ENTRY.fullmatch(body)
        assert match is not None  # every line was matched while parsing
        old = match.group("value")
        if _unquote(old) == tag:
            continue
        new_body = body[: match.start("value")] + _format(tag, old) + body[match.end("value") :]
        lines[item.tag_line] = new_body + eol
        changes.append(f"{path}: {name}: {_unquote(old)} -> {tag}")
    return "".join(lines), changes


def bump_file(path: Path, tags: Mapping[str, str]) -> list[str]:
    """Edits the file in place (only when something changes); returns the changes made."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise BumpError(f"{path}: cannot read: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BumpError(f"{path}: not UTF-8") from None
    new_text, changes = bump_text(text, tags, str(path))
    if changes:
        path.write_bytes(new_text.encode("utf-8"))
    return changes


def _parse_assignment(text: str) -> tuple[str, str]:
    name, sep, tag = text.partition("=")
    if not sep or not name or not tag:
        raise argparse.ArgumentTypeError(f"expected IMAGE=TAG, got {text!r}")
    return name, tag


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kustomization", type=Path, help="path of a kustomization.yaml")
    parser.add_argument("images", nargs="+", type=_parse_assignment, metavar="IMAGE=TAG")
    args = parser.parse_args(argv)
    tags: dict[str, str] = {}
    for name, tag in args.images:
        if tags.setdefault(name, tag) != tag:
            print(f"bump_image_tag: {name} given twice with different tags", file=sys.stderr)
            return 2
    try:
        changes = bump_file(args.kustomization, tags)
    except BumpError as error:
        print(f"bump_image_tag: {error}", file=sys.stderr)
        return 2
    for change in changes:
        print(change)
    if not changes:
        print(f"{args.kustomization}: already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())

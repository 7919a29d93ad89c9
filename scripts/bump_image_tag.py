#!/usr/bin/env python3
"""Pin named images of a kustomization.yaml to a tag and digest, changing nothing else in the file.

    scripts/bump_image_tag.py deploy/overlays/prod/kustomization.yaml \
        webstack-operator=sha-1a2b3c4d5e6f@sha256:<64 hex digits>

The release workflow runs this once the pushed images were scanned and signed; Argo CD deploys the commit.
The digest is what runs: kustomize renders `newName:newTag@digest` when both are set (kustomize v5; the
kubelet pulls by the digest, the tag only tells a reader which commit it is). A digest cannot be moved by
whoever can push a tag to the registry, and it is the subject the signature and attestations are bound to.

Only the values on each named image's `newTag:` and `digest:` lines are rewritten (a `digest:` line is
added under `newTag:` the first time): comments, ordering, quoting of other values, blank lines and line
endings stay byte-for-byte, so the commit's diff is exactly the pins. A YAML library would reformat the file
and drop its comments, hence a small line-based editor for the one shape kustomize documents:

    images:
      - name: webstack-operator      # block style, any key order, `- ` indented or not
        newName: 1234.dkr.ecr.eu-west-1.amazonaws.com/webstack-operator
        newTag: "0.1.0"               # quoted or not; a trailing comment is kept
        digest: sha256:...

`IMAGE=TAG` without a digest is still accepted for an image that has no `digest:` yet (a hand-made dev
overlay); for one already pinned by digest it is refused, since the old digest would keep winning.

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

# The reference grammar of a Docker tag; a digest as registries and kustomize write it.
TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
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


@dataclass(frozen=True)
class Pin:
    """What an image is set to: a tag, and the digest that makes it immutable (None: the tag alone)."""

    tag: str
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, name: str = "image") -> Pin:
        """`TAG` or `TAG@sha256:<hex>`; the message names the image and what is allowed."""
        tag, sep, digest = text.partition("@")
        if not TAG.fullmatch(tag):
            raise BumpError(f"{name}={text}: not a valid image tag (letters, digits, _ . -; at most 128)")
        if sep and not DIGEST.fullmatch(digest):
            raise BumpError(f"{name}={text}: not a valid digest (sha256: and 64 lowercase hex digits)")
        return cls(tag, digest if sep else None)

    def __str__(self) -> str:
        return f"{self.tag}@{self.digest}" if self.digest else self.tag


@dataclass
class _Item:
    """One entry of `images:`: where its `name`, `newTag` and `digest` values are."""

    key_column: int
    name: str | None = None
    tag_line: int | None = None
    digest_line: int | None = None


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
            key_column = len(match.group("lead"))
            items.append(_Item(key_column=key_column))
        elif key_column is None or indent != key_column:
            raise BumpError(f"{path}:{number + 1}: unexpected indentation in images:")
        if match is None or match.group("value") is None:
            raise BumpError(f"{path}:{number + 1}: expected `key: value` in images:, got {stripped!r}")
        key, value = match.group("key"), match.group("value")
        if key == "name":
            items[-1].name = _unquote(value)
        elif key == "newTag":
            items[-1].tag_line = number
        elif key == "digest":
            items[-1].digest_line = number
    return items


def _value(lines: list[str], number: int) -> str:
    match = ENTRY.fullmatch(_split_eol(lines[number])[0])
    assert match is not None  # every line was matched while parsing, and had a value
    return _unquote(match.group("value") or "")


def _set_value(lines: list[str], number: int, new: str) -> None:
    body, eol = _split_eol(lines[number])
    match = ENTRY.fullmatch(body)
    assert match is not None  # every line was matched while parsing
    value = match.group("value")
    lines[number] = body[: match.start("value")] + _format(new, value) + body[match.end("value") :] + eol


def bump_text(text: str, pins: Mapping[str, str], path: str = "kustomization.yaml") -> tuple[str, list[str]]:
    """The file with each named image set to its `TAG` or `TAG@DIGEST`; and a line per change, for the log."""
    wanted = {name: Pin.parse(pin, name) for name, pin in pins.items()}
    lines = text.splitlines(keepends=True)
    items = {item.name: item for item in _image_items(lines, path) if item.name is not None}
    changes: list[str] = []
    inserts: list[tuple[int, str]] = []  # new `digest:` lines, added last so line numbers hold meanwhile
    for name, pin in wanted.items():
        item = items.get(name)
        if item is None:
            known = ", ".join(sorted(items)) or "none"
            raise BumpError(f"{path}: no image named {name!r} in images: (found: {known})")
        if item.tag_line is None:
            raise BumpError(f"{path}: image {name!r} has no newTag: to set")
        old_digest = None if item.digest_line is None else _value(lines, item.digest_line)
        if pin.digest is None and old_digest is not None:
            raise BumpError(
                f"{path}: image {name!r} is pinned by digest ({old_digest}): give {name}=TAG@sha256:<digest>;"
                " a new tag alone would not change what runs"
            )
        old = Pin(_value(lines, item.tag_line), old_digest)
        if old == pin:
            continue
        _set_value(lines, item.tag_line, pin.tag)
        if pin.digest is not None and item.digest_line is not None:
            _set_value(lines, item.digest_line, pin.digest)
        elif pin.digest is not None:
            eol = _split_eol(lines[item.tag_line])[1]
            if not eol:  # newTag was the last line, without a newline: the digest line is now last instead
                lines[item.tag_line] += "\r\n" if "\r\n" in text else "\n"
            inserts.append((item.tag_line + 1, f"{' ' * item.key_column}digest: {pin.digest}{eol}"))
        changes.append(f"{path}: {name}: {old} -> {pin}")
    for number, line in sorted(inserts, reverse=True):
        lines.insert(number, line)
    return "".join(lines), changes


def bump_file(path: Path, pins: Mapping[str, str]) -> list[str]:
    """Edits the file in place (only when something changes); returns the changes made."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise BumpError(f"{path}: cannot read: {error.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise BumpError(f"{path}: not UTF-8") from None
    new_text, changes = bump_text(text, pins, str(path))
    if changes:
        path.write_bytes(new_text.encode("utf-8"))
    return changes


def _parse_assignment(text: str) -> tuple[str, str]:
    name, sep, tag = text.partition("=")
    if not sep or not name or not tag:
        raise argparse.ArgumentTypeError(f"expected IMAGE=TAG@sha256:DIGEST (or IMAGE=TAG), got {text!r}")
    return name, tag


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("kustomization", type=Path, help="path of a kustomization.yaml")
    parser.add_argument("images", nargs="+", type=_parse_assignment, metavar="IMAGE=TAG[@DIGEST]")
    args = parser.parse_args(argv)
    pins: dict[str, str] = {}
    for name, pin in args.images:
        if pins.setdefault(name, pin) != pin:
            print(f"bump_image_tag: {name} given twice with different values", file=sys.stderr)
            return 2
    try:
        changes = bump_file(args.kustomization, pins)
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

"""Redaction of a support bundle: Secrets reduced to their key names, every value of them struck from text.

Pure: the collector hands in the Secrets it read (in memory only) and the texts it gathered; nothing here
talks to the API server. A value is struck as written and in every base64 form that carries it (a Secret's
`data` is base64, and a value inside a longer base64 text shows at one of three alignments, in either
alphabet), so the bundle passes the same search the test suite's final leak scan runs on its files.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from webstack_operator.kube.jsondata import JSON

REDACTED = "<redacted>"
# Shorter values (a port, a user name such as `webstack`) would strike half the bundle and hide nothing a
# reader could use; the README says so.
MIN_LENGTH = 8
# The last word of a Secret key that says its value is an identity or a place, not a credential.
IDENTITY_WORDS = frozenset({"user", "username", "database", "db", "dbname", "host", "hostname", "port"})


def is_identity_key(key: str) -> bool:
    """A key naming who or where (`username`, `database`, `POSTGRES_USER`, `host`), not a credential: its
    value is no password, is shown in the children anyway (POSTGRES_DB), and striking a word such as
    `webstack` would strike the product's name from every file."""
    return re.split(r"[-_.]", key.lower())[-1] in IDENTITY_WORDS


def secret_values(secret: JSON) -> list[str]:
    """The decoded values of a Secret's `data` and `stringData` but those of identity keys, whole and, for a
    config file, the last word of each line (where such a file holds its password)."""
    values: list[str] = []
    for key, encoded in (secret.get("data") or {}).items():
        if is_identity_key(key):
            continue
        try:
            values.append(base64.b64decode(str(encoded), validate=True).decode("utf-8", "replace"))
        except (binascii.Error, ValueError):
            values.append(str(encoded))  # not base64: strike it as it stands
    values += [str(v) for k, v in (secret.get("stringData") or {}).items() if not is_identity_key(k)]
    # In a config file, a line's last word (`requirepass <password>`, `password = <password>`); the rest of
    # a line is configuration a reader needs (`bind 0.0.0.0`, `dir /data`).
    words = [line.split()[-1] for v in values if "\n" in v for line in v.splitlines() if line.split()]
    return [v for v in dict.fromkeys([*values, *words]) if len(v) >= MIN_LENGTH]


def key_names(secret: JSON) -> JSON:
    """What a bundle shows of a Secret: its identity, type, labels, owners and key names, never a value
    (annotations are dropped: `kubectl.kubernetes.io/last-applied-configuration` would carry the data)."""
    metadata = secret.get("metadata") or {}
    keys = sorted({*(secret.get("data") or {}), *(secret.get("stringData") or {})})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            k: metadata[k]
            for k in ("name", "namespace", "uid", "labels", "ownerReferences", "creationTimestamp")
            if k in metadata
        },
        "type": secret.get("type", "Opaque"),
        "keys": keys,
    }


def _base64_cores(value: bytes) -> list[str]:
    """The parts of base64(... + value + ...) that depend on the value alone, at each alignment, in the
    standard and URL-safe alphabets."""
    cores: list[str] = []
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + value).decode()
        start = (shift * 8 + 5) // 6
        end = (shift + len(value)) * 8 // 6
        core = encoded[start:end]
        if len(core) >= MIN_LENGTH:
            cores += [core, core.translate(str.maketrans("+/", "-_"))]
    return cores


@dataclass
class Redactor:
    """Strikes every value it was given from any text; counts what it struck, per file name."""

    needles: list[str] = field(default_factory=list)
    struck: dict[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, values: Iterable[str]) -> Redactor:
        needles: list[str] = []
        for value in dict.fromkeys(values):
            if len(value) >= MIN_LENGTH:
                needles += [value, *_base64_cores(value.encode())]
        # Longest first: a value that contains another is struck whole.
        return cls(sorted(dict.fromkeys(needles), key=len, reverse=True))

    def redact(self, text: str, where: str = "") -> str:
        for needle in self.needles:
            count = text.count(needle)
            if count:
                text = text.replace(needle, REDACTED)
                self.struck[where] = self.struck.get(where, 0) + count
        return text

    def redact_tree(self, value: object, where: str = "") -> object:
        """Every string of a JSON value struck, before it is written as YAML: a dumper may fold or escape a
        long string, which would hide a value from a search of the written text."""
        if isinstance(value, str):
            return self.redact(value, where)
        if isinstance(value, dict):
            return {k: self.redact_tree(v, where) for k, v in value.items()}
        if isinstance(value, list):
            return [self.redact_tree(v, where) for v in value]
        return value

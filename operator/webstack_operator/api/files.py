"""WebStack files as `render` and `plan` read them: YAML documents, each a WebStack, with where and why
when one is not."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from webstack_operator.api.group_version import API_VERSION, KIND
from webstack_operator.kube.jsondata import JSON


class RenderError(Exception):
    """A WebStack file that cannot be rendered, with where and why."""


def load_documents(path: str) -> list[JSON]:
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise RenderError(f"{path}: cannot read: {error.strerror}") from None
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as error:
        raise RenderError(f"{path}: not valid YAML: {error}") from None
    if not documents:
        raise RenderError(f"{path}: no WebStack in the file")
    for index, doc in enumerate(documents):
        where = f"{path} (document {index + 1})"
        if not isinstance(doc, dict):
            raise RenderError(f"{where}: expected a mapping, got {type(doc).__name__}")
        if doc.get("apiVersion") != API_VERSION or doc.get("kind") != KIND:
            raise RenderError(
                f"{where}: apiVersion/kind: expected {API_VERSION} {KIND}, "
                f"got {doc.get('apiVersion')!r} {doc.get('kind')!r}"
            )
    return documents

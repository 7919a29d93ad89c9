"""`kubectl webstack report`: reads a stack, its operator and the cluster into one redacted ZIP.

The order matters for redaction only in that the stack's Secrets are read first: the redactor is built from
their values before anything else is added to the bundle, and every file passes through it.
"""

from __future__ import annotations

import datetime
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from webstack_operator.cli.report.bundle import Bundle, zip_bytes
from webstack_operator.cli.report.collect import (
    StackNotFound,
    add_events,
    add_plan,
    add_stack,
    read_stack_for_report,
    redactor_for,
    why,
)
from webstack_operator.cli.report.operator_side import OperatorPlace, add_operator, add_versions
from webstack_operator.cli.report.redact import Redactor
from webstack_operator.kube.client import ApiError, KubeClient

__all__ = ["StackNotFound", "make_report", "write_atomically"]


async def make_report(
    client: KubeClient, stack: tuple[str, str], place: OperatorPlace, environ: Mapping[str, str]
) -> Bundle:
    """The bundle of WebStack `stack` (namespace, name); `environ`: the settings the plan renders with, as
    `kubectl webstack plan` reads them. Raises StackNotFound, the one error that ends a report."""
    namespace, name = stack
    try:
        await client.discover()
    except ApiError as e:
        raise StackNotFound(f"cannot discover the cluster's APIs: {why(e)}") from None
    created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    scratch = Bundle(namespace, name, created, Redactor())
    read = await read_stack_for_report(client, namespace, name, scratch)
    bundle = Bundle(namespace, name, created, redactor_for(read), refusals=scratch.refusals)
    add_stack(bundle, read)
    await add_events(client, bundle, read)
    await add_plan(client, bundle, read.webstack, environ)
    pods = await add_operator(client, bundle, place)
    await add_versions(client, bundle, read, pods)
    return bundle


def write_atomically(bundle: Bundle, path: Path) -> int:
    """Writes the ZIP beside its destination and renames it in: a half-written report never sits under
    the name a person will send. Returns its size."""
    data = zip_bytes(bundle)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(temporary, path)
    return len(data)

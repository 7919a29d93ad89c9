"""The operator's log lines are JSON whatever is logged, and carry the stack they belong to.

The setup runs in a subprocess, as `webstack-operator run` does, so that what is checked is the bytes a log
pipeline reads on stdout, with no pytest capture handler in between.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from webstack_contract.logs import JSONFormatter
from webstack_operator.telemetry.logs import bind_stack

ROOT = Path(__file__).parents[4]
SECRET = "hunter2"

HOSTILE_SCRIPT = r"""
import logging

import kopf

from webstack_operator.telemetry.logs import bind_stack, configure_logging

configure_logging(VERBOSE)
log = logging.getLogger("webstack_operator.test")
log.info('quote " backslash \\ close "} end')
log.info("first line\nsecond line\r\nthird\tcolumn")
log.info("surrogate \udc80 nul \x00 escape \x1b[31m accent é rocket 🚀")
log.info("long " + "x" * 200_000)
log.info("user %s said %r", "bob", 'he said "hi"')
log.info("too few arguments %s %s", "one")
log.warning("cannot reach postgresql://app:hunter2@db:5432/app")
odd = {"huge": 2**70, "nested": {1: ["redis://:hunter2@cache:6379/0"]}, "thing": object()}
log.info("odd extras", extra=odd)
try:
    raise RuntimeError('broke "here"\nwhile connecting to postgresql://app:hunter2@db/app')
except RuntimeError:
    log.exception("reconcile failed")
with bind_stack("shop", "web", "r1"):
    log.info("inside bind_stack")
    with bind_stack("shop", "other") as inner_id:
        log.info("nested bind_stack " + inner_id)
    log.info("restored bind_stack")
log.info("after bind_stack")
body = kopf.Body({
    "apiVersion": "webstack.example.com/v1", "kind": "WebStack",
    "metadata": {"namespace": "shop", "name": "web", "uid": "u-1"},
})
objects = kopf.ObjectLogger(body=body, settings=kopf.OperatorSettings())
objects.warning("Handler 'reconcile' failed temporarily: redis://:hunter2@cache \"down\"")
objects.info("Handler 'reconcile' succeeded.")
log.debug("debug detail")
logging.getLogger("aiohttp.access").info("GET /healthz 200")
"""

BASE_FIELDS = ("time", "level", "logger", "message")


def run_operator_logging(verbose: bool) -> list[dict[str, Any]]:
    """Runs the script with the operator's logging setup; every stdout line must be one JSON object."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "operator"), str(ROOT / "contract")])}
    result = subprocess.run(
        [sys.executable, "-c", HOSTILE_SCRIPT.replace("VERBOSE", str(verbose))],
        capture_output=True,
        env=env,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    assert result.stderr == b"", result.stderr.decode(errors="replace")  # e.g. "--- Logging error ---"
    assert SECRET.encode() not in result.stdout
    documents = []
    for line in result.stdout.decode("utf-8").splitlines():
        document = json.loads(line)
        assert isinstance(document, dict), line
        assert all(isinstance(document[field], str) for field in BASE_FIELDS), line
        documents.append(document)
    return documents


@pytest.fixture(scope="module")
def quiet_lines() -> list[dict[str, Any]]:
    return run_operator_logging(verbose=False)


def by_message(documents: list[dict[str, Any]], prefix: str) -> dict[str, Any]:
    matches = [document for document in documents if document["message"].startswith(prefix)]
    assert len(matches) == 1, (prefix, [document["message"][:80] for document in documents])
    return matches[0]


def test_every_line_is_json_with_the_message_intact(quiet_lines: list[dict[str, Any]]) -> None:
    documents = quiet_lines

    assert by_message(documents, "quote")["message"] == 'quote " backslash \\ close "} end'
    assert by_message(documents, "first line")["message"] == "first line\nsecond line\r\nthird\tcolumn"
    assert by_message(documents, "surrogate")["message"] == (
        "surrogate \ufffd nul \x00 escape \x1b[31m accent é rocket 🚀"
    )
    assert by_message(documents, "long ")["message"] == "long " + "x" * 200_000
    assert by_message(documents, "user ")["message"] == "user bob said 'he said \"hi\"'"
    assert by_message(documents, "too few arguments")["message"] == "too few arguments %s %s ('one',)"
    warning = by_message(documents, "cannot reach")
    assert warning["message"] == "cannot reach postgresql://***@db:5432/app"
    assert (warning["level"], warning["logger"]) == ("warning", "webstack_operator.test")
    extras = by_message(documents, "odd extras")
    assert extras["huge"] == str(2**70)
    assert extras["nested"] == {"1": ["redis://***@cache:6379/0"]}
    assert extras["thing"].startswith("<object object at")


def test_exceptions_are_one_line_with_the_traceback_redacted(quiet_lines: list[dict[str, Any]]) -> None:
    failure = by_message(quiet_lines, "reconcile failed")
    assert failure["level"] == "error"
    assert failure["exception"].startswith("Traceback (most recent call last):")
    assert 'RuntimeError: broke "here"\nwhile connecting to postgresql://***@db/app' in failure["exception"]


def test_stack_fields_appear_exactly_inside_bind_stack(quiet_lines: list[dict[str, Any]]) -> None:
    documents = quiet_lines
    inside = by_message(documents, "inside bind_stack")
    assert (inside["stack"], inside["reconcile_id"]) == ("shop/web", "r1")
    nested = by_message(documents, "nested bind_stack")
    assert nested["stack"] == "shop/other"
    assert re.fullmatch("[0-9a-f]{8}", nested["reconcile_id"])
    assert nested["message"] == f"nested bind_stack {nested['reconcile_id']}"
    restored = by_message(documents, "restored bind_stack")
    assert (restored["stack"], restored["reconcile_id"]) == ("shop/web", "r1")
    bound = [inside, nested, restored]
    for document in documents:
        if document not in bound:
            assert "stack" not in document, document
            assert "reconcile_id" not in document, document


def test_kopf_object_records_keep_the_reference_and_drop_kopf_internals(
    quiet_lines: list[dict[str, Any]],
) -> None:
    failure = by_message(quiet_lines, "Handler 'reconcile' failed")
    assert failure["message"] == "Handler 'reconcile' failed temporarily: redis://***@cache \"down\""
    assert (failure["logger"], failure["level"]) == ("kopf.objects", "warning")
    assert failure["object"] == {
        "apiVersion": "webstack.example.com/v1",
        "kind": "WebStack",
        "name": "web",
        "uid": "u-1",
        "namespace": "shop",
    }
    assert "settings" not in failure
    assert "k8s_skip" not in failure


def test_quiet_unless_verbose(quiet_lines: list[dict[str, Any]]) -> None:
    quiet = {document["message"] for document in quiet_lines}
    verbose = {document["message"] for document in run_operator_logging(verbose=True)}
    for message in ("Handler 'reconcile' succeeded.", "debug detail"):
        assert message not in quiet
        assert message in verbose
    assert "GET /healthz 200" not in quiet | verbose  # aiohttp's access log: warnings only, always


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(JSONFormatter())
        self.lines: list[dict[str, Any]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


async def test_bind_stack_is_task_local() -> None:
    handler = ListHandler()
    log = logging.getLogger("webstack_operator.test_task_local")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    first_bound = asyncio.Event()
    second_logged = asyncio.Event()

    async def first() -> None:
        with bind_stack("shop", "a", "ra"):
            first_bound.set()
            await second_logged.wait()  # the other task binds and logs while this one is bound
            log.info("from a")

    async def second() -> None:
        await first_bound.wait()
        with bind_stack("shop", "b", "rb"):
            log.info("from b")
        second_logged.set()

    try:
        await asyncio.wait_for(asyncio.gather(first(), second()), timeout=10)
        log.info("outside")
    finally:
        log.removeHandler(handler)
    fields = [(line["message"], line.get("stack"), line.get("reconcile_id")) for line in handler.lines]
    assert fields == [("from b", "shop/b", "rb"), ("from a", "shop/a", "ra"), ("outside", None, None)]

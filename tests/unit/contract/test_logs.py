"""JSON log lines: bound fields, extra fields, and credentials redacted from anything that slips through."""

from __future__ import annotations

import json
import logging
import sys
import time

from webstack_contract.logs import JSONFormatter, bind_log_fields, bound_log_fields, redact, reset_log_fields


def test_redact_removes_url_credentials() -> None:
    assert (
        redact("connect postgresql://app:s3cret@db:5432/app failed")
        == "connect postgresql://***@db:5432/app failed"
    )
    assert redact("redis://:pw@cache:6379/0") == "redis://***@cache:6379/0"
    assert redact("http://example.com/a@b") == "http://example.com/a@b"


def test_redact_takes_linear_time_on_long_words() -> None:
    # A scheme-first pattern backtracked at every letter: 200 kB took tens of seconds.
    started = time.perf_counter()
    assert redact("x" * 1_000_000) == "x" * 1_000_000
    assert time.perf_counter() - started < 1


def test_formatter_emits_one_json_object_with_context() -> None:
    record = logging.LogRecord("users_api.x", logging.WARNING, __file__, 1, "oops %s", ("now",), None)
    record.route = "/api/users"
    token = bind_log_fields(request_id="rid-1")
    try:
        line = JSONFormatter().format(record)
    finally:
        reset_log_fields(token)
    document = json.loads(line)
    assert document["message"] == "oops now"
    assert document["level"] == "warning"
    assert document["request_id"] == "rid-1"
    assert document["route"] == "/api/users"


def test_exceptions_are_included_and_redacted() -> None:
    try:
        raise RuntimeError("cannot reach postgresql://u:topsecret@db/app")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    document = json.loads(JSONFormatter().format(record))
    assert "RuntimeError" in document["exception"]
    assert "topsecret" not in document["exception"]


def test_nested_bindings_add_fields_and_reset_restores() -> None:
    outer = bind_log_fields(request_id="r1")
    inner = bind_log_fields(stack="ns/web", request_id="r2")
    assert bound_log_fields() == {"request_id": "r2", "stack": "ns/web"}
    reset_log_fields(inner)
    assert bound_log_fields() == {"request_id": "r1"}
    reset_log_fields(outer)
    assert bound_log_fields() == {}


def test_any_record_becomes_one_valid_json_line() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, 'a "b"\nc \udc80 %s %s', ("one",), None)
    record.level = "not the record's level"
    record.big = 2**70
    record.nested = {1: ("postgresql://u:topsecret@db/app", {"x"})}
    record.thing = object()
    record.internal = "dropped"
    record.ref = {"name": "web"}
    line = JSONFormatter(omit={"internal"}, rename={"ref": "object"}).format(record)
    assert "\n" not in line
    document = json.loads(line)
    assert document["message"] == "a \"b\"\nc \ufffd %s %s ('one',)"  # arguments that do not fit the template
    assert document["level"] == "info"
    assert document["big"] == str(2**70)
    assert document["nested"] == {"1": ["postgresql://***@db/app", ["x"]]}
    assert document["thing"].startswith("<object object")
    assert "internal" not in document
    assert document["object"] == {"name": "web"}
    assert "ref" not in document


def test_a_record_orjson_cannot_serialise_still_gives_a_line() -> None:
    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no text")

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", (), None)
    record.odd = Unprintable()
    document = json.loads(JSONFormatter().format(record))
    assert document["message"] == "hello"
    assert "odd" not in document
    assert document["log_error"].startswith("extra fields dropped: ")

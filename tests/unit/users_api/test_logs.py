"""JSON log lines: request id, extra fields, and credentials redacted from anything that slips through."""

from __future__ import annotations

import json
import logging
import sys

from users_api.logs import JSONFormatter, redact, request_id_var


def test_redact_removes_url_credentials() -> None:
    assert (
        redact("connect postgresql://app:s3cret@db:5432/app failed")
        == "connect postgresql://***@db:5432/app failed"
    )
    assert redact("redis://:pw@cache:6379/0") == "redis://***@cache:6379/0"
    assert redact("http://example.com/a@b") == "http://example.com/a@b"


def test_formatter_emits_one_json_object_with_context() -> None:
    record = logging.LogRecord("users_api.x", logging.WARNING, __file__, 1, "oops %s", ("now",), None)
    record.route = "/api/users"
    token = request_id_var.set("rid-1")
    try:
        line = JSONFormatter().format(record)
    finally:
        request_id_var.reset(token)
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

"""Structured logs: one JSON object per line on stdout, shared by the users API and the operator.

Every line is JSON whatever the message holds (quotes, newlines, tracebacks, lone surrogates), because log
pipelines drop or split a line that is not. Fields bound to the current task (the request id of the request
being served, the stack an operator reconcile works on) are added to every line logged inside that task: they
live in a contextvar, so concurrent asyncio tasks never see each other's.

A redaction filter strips credentials from any URL in a message, field or traceback, as a last line of
defence: the code never logs a DSN on purpose, but a driver error message might contain one.
"""

from __future__ import annotations

import contextvars
import logging
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import orjson

# Immutable mappings: a task that inherits the context can replace the mapping, never change its parent's.
_bound_fields: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "log_fields", default=MappingProxyType({})
)

# Anchored on "://", not on the scheme before it: a scheme pattern is retried at every letter of a long word,
# which made redacting a 200 kB message take 40 s. Whatever precedes "://" is kept, so the scheme stays.
_CREDENTIALS_IN_URL = re.compile(r"://[^/@\s:]*:[^/@\s]*@")
_SURROGATES = re.compile("[\ud800-\udfff]")
_STANDARD_ATTRIBUTES = frozenset(
    logging.LogRecord("", 0, "", 0, "", None, None).__dict__.keys()
    | {"message", "asctime", "taskName", "color_message"}  # color_message: uvicorn's ANSI copy of message
)
_BASE_FIELDS = frozenset({"time", "level", "logger", "message", "exception", "stack_info"})
_INT64 = range(-(2**63), 2**64)  # what orjson serialises as a number


def redact(text: str) -> str:
    """`postgresql://user:secret@host/db` -> `postgresql://***@host/db`."""
    return _CREDENTIALS_IN_URL.sub("://***@", text)


def bind_log_fields(**fields: str) -> contextvars.Token[Mapping[str, str]]:
    """Adds `fields` to every line the current task (and the tasks it starts) logs, until `reset_log_fields`.

    A token rather than a context manager, like `ContextVar.set`, so that middleware can bind in `__call__`
    and reset in its `finally`; nested binds add to (or override) the outer ones.
    """
    return _bound_fields.set(MappingProxyType({**_bound_fields.get(), **fields}))


def reset_log_fields(token: contextvars.Token[Mapping[str, str]]) -> None:
    """Restores the fields bound before the `bind_log_fields` call that returned `token`."""
    _bound_fields.reset(token)


def bound_log_fields() -> Mapping[str, str]:
    """The fields `bind_log_fields` bound in the current task, for code (and tests) that need them."""
    return _bound_fields.get()


class JSONFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message, bound fields, the record's extra fields.

    `omit` names extra attributes that are not worth a field (a library's internal objects); `rename` gives
    an extra attribute a name log parsers know. The format never raises: a value it cannot serialise becomes
    its `str()`, and a string that is not valid Unicode has its lone surrogates replaced.
    """

    def __init__(self, *, omit: Iterable[str] = (), rename: Mapping[str, str] | None = None) -> None:
        super().__init__()
        self._omit = frozenset(omit)
        self._rename = dict(rename or {})

    def format(self, record: logging.LogRecord) -> str:
        head: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _clean(_message(record)),
            **{key: _clean(value) for key, value in _bound_fields.get().items()},
        }
        tail: dict[str, str] = {}
        if record.exc_info:
            tail["exception"] = _clean(self.formatException(record.exc_info))
        if record.stack_info:
            tail["stack_info"] = _clean(self.formatStack(record.stack_info))
        try:
            document = {**head, **self._extra_fields(record), **tail}
            return orjson.dumps(document, default=_fallback, option=orjson.OPT_PASSTHROUGH_DATACLASS).decode()
        except Exception as error:  # a cycle, a str() that raises...: the line must still be written
            head["log_error"] = _clean(f"extra fields dropped: {error!r}")
            return orjson.dumps({**head, **tail}).decode()

    def _extra_fields(self, record: logging.LogRecord) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key, value in record.__dict__.items():
            if key in _STANDARD_ATTRIBUTES or key in self._omit or key.startswith("_"):
                continue
            field = self._rename.get(key, key)
            if field not in _BASE_FIELDS:  # an extra named `level` must not hide the record's level
                fields[field] = _clean(value)
        return fields


def _message(record: logging.LogRecord) -> str:
    """The formatted message, or the template and its arguments if they do not match (`"%s %s" % (1,)`)."""
    try:
        return record.getMessage()
    except Exception:  # logging would print its own traceback to stderr and lose the line
        return f"{record.msg!s} {record.args!r}"


def _clean(value: Any) -> Any:
    """Redacts strings and makes them valid Unicode, recursively; leaves other types to orjson."""
    if isinstance(value, str):
        return _SURROGATES.sub("\ufffd", redact(value))
    if isinstance(value, Mapping):
        return {_clean(str(key)): _clean(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(item) for item in value]
    if isinstance(value, int) and not isinstance(value, bool) and value not in _INT64:
        return str(value)
    return value


def _fallback(value: Any) -> str:
    """For what orjson cannot serialise natively: its text, cleaned like any other string."""
    cleaned: str = _clean(str(value))
    return cleaned


def use_json_logging(level: int | str, formatter: JSONFormatter | None = None) -> None:
    """Makes one JSON handler on stdout the root logger's only handler, so every logger's lines are JSON."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter or JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)

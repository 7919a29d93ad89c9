"""Every request the proxy saw, so a test can assert which client did what (and what it was answered).

Credentials never reach the log: the Authorization header is kept as its scheme and a short SHA-256 of
the credential, which a test compares with `identity_of(token)` for the tokens it handed out.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass


def identity_of(token: str, scheme: str = "Bearer") -> str:
    """What the log shows for a credential: `bearer:` and 12 hex digits of its SHA-256."""
    return f"{scheme.lower()}:{hashlib.sha256(token.encode()).hexdigest()[:12]}"


def identity(authorization: str | None) -> str | None:
    """The log's identity for an Authorization header value (None when there is none)."""
    if not authorization:
        return None
    scheme, _, credential = authorization.strip().partition(" ")
    return identity_of(credential.strip(), scheme)


@dataclass(frozen=True)
class RequestRecord:
    """One request. `status` is None while no response has started, and stays None when the connection
    was reset; `fault` is the kind of the fault injected (None: forwarded untouched)."""

    at: float  # wall-clock time.time() of arrival
    method: str
    path: str
    query: str
    user_agent: str
    identity: str | None
    status: int | None = None
    fault: str | None = None
    error: str | None = None  # the upstream's failure, when the proxy could not reach it
    done: bool = False


class RequestLog:
    """Thread-safe: the proxy's loop writes, tests read. `on_done` sees each finished record (the CLI
    prints it)."""

    def __init__(self, on_done: Callable[[RequestRecord], None] | None = None) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._on_done = on_done

    def add(self, record: RequestRecord) -> int:
        with self._lock:
            self._records.append(record)
            return len(self._records) - 1

    def update(
        self,
        index: int,
        *,
        status: int | None = None,
        fault: str | None = None,
        error: str | None = None,
        done: bool = False,
    ) -> None:
        """Sets what is given; a value once set is kept."""
        with self._lock:
            old = self._records[index]
            new = dataclasses.replace(
                old,
                status=old.status if status is None else status,
                fault=old.fault if fault is None else fault,
                error=old.error if error is None else error,
                done=old.done or done,
            )
            self._records[index] = new
        if done and not old.done and self._on_done is not None:
            self._on_done(new)

    def query(
        self,
        *,
        method: str | None = None,
        path_re: str | None = None,
        query_re: str | None = None,
        identity: str | None = None,
        user_agent_re: str | None = None,
        fault: str | None = None,
    ) -> list[RequestRecord]:
        """Records in arrival order; `path_re` matches at the start of the path, the other patterns
        anywhere; `fault="*"` selects every request a fault was injected into."""
        with self._lock:
            records = list(self._records)
        return [
            r
            for r in records
            if (method is None or r.method == method.upper())
            and (path_re is None or re.match(path_re, r.path))
            and (query_re is None or re.search(query_re, r.query))
            and (identity is None or r.identity == identity)
            and (user_agent_re is None or re.search(user_agent_re, r.user_agent))
            and (fault is None or r.fault == fault or (fault == "*" and r.fault is not None))
        ]

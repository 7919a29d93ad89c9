"""What to break: faults matched by method, path and query, each for a number of requests or a time.

`Faults` is the scripting surface a test uses (`fail`, `reset`, `stall`, `cut_watch`, `unreachable`, ...);
`FaultProxy` is a `Faults` with a server in front. Matching is kept here, free of I/O, so the choice of
fault for a request can be tested without sockets or clocks.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

# client-go and kopf send `watch=true`, curl users `watch=1`.
WATCH_QUERY = r"(?:^|&)watch=(?:1|true)(?:&|$)"

REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


@dataclass(frozen=True)
class Match:
    """Which requests a fault applies to: `path` is matched at the start of the path (a prefix, or a regex;
    end it with `$` for an exact path), `query` anywhere in the raw query string; None matches all."""

    method: str | None = None
    path: str | None = None
    query: str | None = None

    def __post_init__(self) -> None:
        for pattern in (self.path, self.query):
            if pattern is not None:
                re.compile(pattern)  # a typo fails where the fault is scripted, not at the first request

    def matches(self, method: str, path: str, query: str) -> bool:
        return (
            (self.method is None or self.method.upper() == method.upper())
            and (self.path is None or re.match(self.path, path) is not None)
            and (self.query is None or re.search(self.query, query) is not None)
        )


@dataclass(frozen=True)
class Respond:
    """Answer with this HTTP status and a Kubernetes Status body, without asking the upstream."""

    code: int
    message: str = "injected by faultproxy"
    retry_after: int | None = None


@dataclass(frozen=True)
class Reset:
    """Close the connection (TCP RST) without a response."""


@dataclass(frozen=True)
class Stall:
    """Send nothing for `seconds` (None: until the fault is removed or expires), then forward as usual."""

    seconds: float | None = None


@dataclass(frozen=True)
class CutWatch:
    """Forward a watch stream's first `after_events` lines, then half of the next one, then close."""

    after_events: int = 0


@dataclass(frozen=True)
class WatchError:
    """Answer a watch with 200 and one ERROR event carrying this Status, as the apiserver does when the
    requested resourceVersion was compacted away; the stream then ends."""

    code: int = 410
    message: str = "too old resource version (injected by faultproxy)"


@dataclass(frozen=True)
class Unreachable:
    """Reset every request, and every connection open when injected: the API server is gone."""


Action = Respond | Reset | Stall | CutWatch | WatchError | Unreachable


def kind_of(action: Action) -> str:
    """The name the request log gives the fault, e.g. `status-503`, `reset`, `watch-error-410`."""
    match action:
        case Respond(code=code):
            return f"status-{code}"
        case WatchError(code=code):
            return f"watch-error-{code}"
        case CutWatch():
            return "cut-watch"
        case _:
            return type(action).__name__.lower()


@dataclass(eq=False)
class Fault:
    """One scripted fault. It applies `times` times (None: unlimited) until `expires_at` (monotonic; None:
    never); once spent it stays listed, with its `hits`, until removed."""

    id: int
    action: Action
    match: Match
    times: int | None
    expires_at: float | None
    hits: int = 0

    @property
    def kind(self) -> str:
        return kind_of(self.action)

    def active(self, now: float) -> bool:
        return (self.times is None or self.hits < self.times) and (
            self.expires_at is None or now < self.expires_at
        )

    def seconds_left(self, now: float) -> float | None:
        return None if self.expires_at is None else max(0.0, self.expires_at - now)


class Faults:
    """Thread-safe: tests script faults from their thread while the proxy's loop takes them."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # ------------------------------------------------------------ the general form
    def inject(
        self,
        action: Action,
        *,
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        times: int | None = None,
        for_seconds: float | None = None,
    ) -> Fault:
        if times is not None and times < 1:
            raise ValueError(f"times must be at least 1 or None (until removed), got {times}")
        with self._lock:
            now = self.clock()
            fault = Fault(
                id=next(self._ids),
                action=action,
                match=Match(method, path, query),
                times=times,
                expires_at=None if for_seconds is None else now + for_seconds,
            )
            self._faults.append(fault)
        self._injected(fault)
        return fault

    def take(self, method: str, path: str, query: str) -> Fault | None:
        """The fault for this request, counted as used; Unreachable first, then the oldest that matches."""
        with self._lock:
            now = self.clock()
            live = [f for f in self._faults if f.active(now) and f.match.matches(method, path, query)]
            live.sort(key=lambda f: not isinstance(f.action, Unreachable))
            if not live:
                return None
            live[0].hits += 1
            return live[0]

    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def remove(self, fault: Fault) -> None:
        with self._lock:
            self._faults = [f for f in self._faults if f is not fault]
        self._removed([fault])

    def clear(self) -> None:
        """Removes every fault; requests stalled until cleared go on to the upstream."""
        with self._lock:
            removed, self._faults = self._faults, []
        self._removed(removed)

    # Hooks for the proxy: unreachable aborts open connections, removal releases stalled requests.
    def _injected(self, fault: Fault) -> None:
        pass

    def _removed(self, faults: list[Fault]) -> None:
        pass

    # ---------------------------------------------------------------- conveniences
    def fail(
        self,
        code: int = 503,
        *,
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        times: int | None = None,
        for_seconds: float | None = None,
        retry_after: int | None = None,
        message: str = "injected by faultproxy",
    ) -> Fault:
        """An HTTP error with a Status body (500, 503, 429 with `retry_after`, ...)."""
        action = Respond(code, message, retry_after)
        return self.inject(
            action, method=method, path=path, query=query, times=times, for_seconds=for_seconds
        )

    def reset(
        self,
        *,
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        times: int | None = None,
        for_seconds: float | None = None,
    ) -> Fault:
        return self.inject(
            Reset(), method=method, path=path, query=query, times=times, for_seconds=for_seconds
        )

    def stall(
        self,
        seconds: float | None = None,
        *,
        method: str | None = None,
        path: str | None = None,
        query: str | None = None,
        times: int | None = None,
        for_seconds: float | None = None,
    ) -> Fault:
        return self.inject(
            Stall(seconds), method=method, path=path, query=query, times=times, for_seconds=for_seconds
        )

    def cut_watch(self, after_events: int = 0, *, path: str | None = None, times: int | None = 1) -> Fault:
        return self.inject(CutWatch(after_events), method="GET", path=path, query=WATCH_QUERY, times=times)

    def unreachable(self, for_seconds: float | None) -> Fault:
        """Every request reset for `for_seconds` (None: until removed), open watches cut at once."""
        return self.inject(Unreachable(), for_seconds=for_seconds)

    def fail_discovery(
        self, group: str, version: str, *, times: int | None = None, for_seconds: float | None = None
    ) -> Fault:
        """`GET /apis/<group>/<version>` answers 503, as for an aggregated API whose backend is down."""
        return self.fail(
            503,
            method="GET",
            path=rf"/apis/{re.escape(group)}/{re.escape(version)}/?$",
            times=times,
            for_seconds=for_seconds,
            message="the server is currently unable to handle the request (injected by faultproxy)",
        )

    def watch_gone(self, *, path: str | None = None, times: int | None = 1) -> Fault:
        """A watch answered with HTTP 410 Gone."""
        return self.inject(
            Respond(410, "too old resource version (injected by faultproxy)"),
            method="GET",
            path=path,
            query=WATCH_QUERY,
            times=times,
        )

    def watch_expired(self, *, path: str | None = None, times: int | None = 1) -> Fault:
        """A watch answered with 200 and an ERROR event carrying a 410 Status."""
        return self.inject(WatchError(410), method="GET", path=path, query=WATCH_QUERY, times=times)

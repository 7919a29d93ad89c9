"""A bounded load generator for disruption tests: clients reading and writing users through the users API,
every request recorded, so a test can say how long clients saw failures and check that every acknowledged
write survived.

Threads, not asyncio: disruption tests are synchronous (kubectl, polling) and need the load running beside
them, not inside their own event loop. It is bounded on purpose, since the real pods, the control plane
and the tests share two cores: a total rate the clients pace to (not a burst to catch up after a stall),
a deadline, an optional request count, and hard caps on all three, so a test cannot ask for a load that
would measure the machine instead of the disruption.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from types import TracebackType

import httpx

USERS = "/api/users"
MAX_RATE = 50.0  # requests/s over all clients: far above what a disruption needs, well below a core
MAX_CLIENTS = 8
MAX_DURATION = 300.0  # seconds; the load stops by itself even if a test forgets to


@dataclass(frozen=True)
class Mix:
    """Relative weights of the operations; a read of one's own user needs a created one, so until the first
    write is acknowledged a client writes."""

    create: int = 3  # POST /api/users with an email no one else uses
    get: int = 5  # GET /api/users/{id} of a user this load created (and was told so: 201)
    list: int = 2  # GET /api/users?limit=...


@dataclass(frozen=True)
class User:
    """A user whose creation was acknowledged: it must survive whatever the test did to the stack."""

    id: int
    email: str


@dataclass(frozen=True)
class Record:
    """One request as its client saw it; times are time.monotonic() of this process."""

    operation: str  # create | get | list
    method: str
    path: str
    started: float
    ended: float
    status: int | None  # None when no response came (then `error` says why)
    error: str | None  # an exception's class (ReadTimeout, ConnectError, ...) or a wrong body
    email: str | None = None  # what a create sent
    created: User | None = None  # set only on a 201 with the user in its body

    @property
    def ok(self) -> bool:
        """The answer a healthy stack gives: 201 for a create, 200 for a read. A 404 for one's own user is a
        failure: an acknowledged write was lost (or not yet visible)."""
        return self.error is None and self.status == (201 if self.operation == "create" else 200)

    @property
    def outcome(self) -> str:
        return self.error if self.error is not None else str(self.status)


@dataclass(frozen=True)
class Outage:
    """A run of failed requests with no success started among them: what a client saw from the first
    failed request's start to the last one's end."""

    failures: tuple[Record, ...]

    @property
    def started(self) -> float:
        return self.failures[0].started

    @property
    def ended(self) -> float:
        return max(r.ended for r in self.failures)

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass(frozen=True)
class Summary:
    """What a disruption test asserts on, computed once the load stopped."""

    records: tuple[Record, ...]
    counts: dict[str, int]  # "<operation> <status or error>", e.g. "create 201", "get ConnectError"
    failures: tuple[Record, ...]
    outage: Outage | None  # the longest
    acknowledged: frozenset[User]
    # Creates sent without an acknowledgement: each may or may not exist, and no check may rely on either.
    unacknowledged_emails: frozenset[str]

    @property
    def outage_seconds(self) -> float:
        return self.outage.seconds if self.outage else 0.0

    @property
    def failure_span_seconds(self) -> float:
        """From the first failed request's start to the last one's end: the bound a promise is about, since
        failures mixed with successes (one of three pods gone) never make one long run."""
        if not self.failures:
            return 0.0
        return max(r.ended for r in self.failures) - min(r.started for r in self.failures)


def longest_outage(records: list[Record] | tuple[Record, ...]) -> Outage | None:
    """The longest run of failures consecutive in order of start. Start order, because a request's fate is
    decided when it is sent: a long timeout that ends after later successes still began inside the run."""
    runs: list[Outage] = []
    current: list[Record] = []
    for record in sorted(records, key=lambda r: r.started):
        if record.ok:
            if current:
                runs.append(Outage(tuple(current)))
            current = []
        else:
            current.append(record)
    if current:
        runs.append(Outage(tuple(current)))
    return max(runs, key=lambda run: run.seconds, default=None)


def summarize(records: list[Record] | tuple[Record, ...]) -> Summary:
    ordered = tuple(sorted(records, key=lambda r: r.started))
    creates = [r for r in ordered if r.operation == "create"]
    return Summary(
        records=ordered,
        counts=dict(Counter(f"{r.operation} {r.outcome}" for r in ordered)),
        failures=tuple(r for r in ordered if not r.ok),
        outage=longest_outage(ordered),
        acknowledged=frozenset(r.created for r in creates if r.created is not None),
        unacknowledged_emails=frozenset(r.email for r in creates if r.created is None and r.email),
    )


class _Pacer:
    """Hands out send times at `rate` per second over all clients, until the deadline or the count. A
    client that was stalled gets the next free slot, not the ones it missed."""

    def __init__(self, rate: float, deadline: float, max_requests: int | None) -> None:
        self._interval = 1.0 / rate
        self._deadline = deadline
        self._left = max_requests
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def next_slot(self) -> float | None:
        with self._lock:
            slot = max(time.monotonic(), self._next)
            if slot >= self._deadline or self._left == 0:
                return None
            self._next = slot + self._interval
            if self._left is not None:
                self._left -= 1
            return slot


@dataclass
class _Shared:
    """What the clients share: the records and the users they may read back."""

    records: list[Record] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, record: Record) -> None:
        with self.lock:
            self.records.append(record)
            if record.created is not None:
                self.users.append(record.created)


class Load:
    """`with Load(base_url, ...) as load:` runs the clients until the block ends, the duration passes or
    `max_requests` were sent; `load.summary` then holds the result. `load.records()` may be polled
    meanwhile (e.g. until some requests succeeded before disrupting anything)."""

    def __init__(
        self,
        base_url: str,
        *,
        clients: int = 4,
        rate: float = 20.0,
        duration: float = 60.0,
        max_requests: int | None = None,
        mix: Mix = Mix(),
        timeout: float = 2.0,
        list_limit: int = 20,
        seed: int = 0,
    ) -> None:
        if not 1 <= clients <= MAX_CLIENTS:
            raise ValueError(f"clients={clients}: from 1 to {MAX_CLIENTS}")
        if not 0 < rate <= MAX_RATE:
            raise ValueError(f"rate={rate}: above 0 and at most {MAX_RATE} requests/s")
        if not 0 < duration <= MAX_DURATION:
            raise ValueError(f"duration={duration}: above 0 and at most {MAX_DURATION} s")
        if min(mix.create, mix.get, mix.list) < 0 or mix.create == 0:
            raise ValueError(f"mix={mix}: no negative weight, and creates (reads are of one's own users)")
        self.base_url = base_url
        self.clients, self.rate, self.duration, self.max_requests = clients, rate, duration, max_requests
        self.mix, self.timeout, self.list_limit, self.seed = mix, timeout, list_limit, seed
        # Unique per run: a second load against the same database never collides with the first's emails.
        self.run_id = uuid.uuid4().hex[:12]
        self._shared = _Shared()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._summary: Summary | None = None

    def __enter__(self) -> Load:
        pacer = _Pacer(self.rate, time.monotonic() + self.duration, self.max_requests)
        for index in range(self.clients):
            thread = threading.Thread(
                target=self._client, args=(index, pacer), name=f"load-{index}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def stop(self) -> Summary:
        """Stop sending, wait for the requests in flight (each bounded by `timeout`), summarize."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
            if thread.is_alive():
                raise RuntimeError(f"{thread.name} did not stop within its request timeout")
        if self._summary is None:
            with self._shared.lock:
                self._summary = summarize(self._shared.records)
        return self._summary

    @property
    def summary(self) -> Summary:
        if self._summary is None:
            raise RuntimeError("the load is still running: stop() it, or leave its `with` block")
        return self._summary

    def records(self) -> list[Record]:
        """The requests completed so far, in completion order."""
        with self._shared.lock:
            return list(self._shared.records)

    def finished(self) -> bool:
        """Every client stopped by itself (duration or request count reached)."""
        return bool(self._threads) and not any(t.is_alive() for t in self._threads)

    def _client(self, index: int, pacer: _Pacer) -> None:
        chooser = random.Random(self.seed * 1000 + index)
        operations = ["create", "get", "list"]
        weights = [self.mix.create, self.mix.get, self.mix.list]
        with httpx.Client(base_url=self.base_url, timeout=self.timeout, trust_env=False) as client:
            for sequence in itertools.count():
                slot = pacer.next_slot()
                if slot is None or self._stop.wait(max(0.0, slot - time.monotonic())):
                    return
                operation = chooser.choices(operations, weights)[0]
                with self._shared.lock:
                    own = chooser.choice(self._shared.users) if self._shared.users else None
                if operation == "get" and own is None:
                    operation = "create"
                self._shared.add(self._send(client, operation, own, f"{index}-{sequence}"))

    def _send(self, client: httpx.Client, operation: str, own: User | None, tag: str) -> Record:
        email = f"load-{self.run_id}-{tag}@load.example" if operation == "create" else None
        if operation == "create":
            method, path, body = "POST", USERS, {"email": email, "name": f"Load {tag}"}
        elif operation == "get" and own is not None:
            method, path, body = "GET", f"{USERS}/{own.id}", None
        else:
            method, path, body = "GET", f"{USERS}?limit={self.list_limit}", None
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        created: User | None = None
        try:
            response = client.request(method, path, json=body)
            status = response.status_code
            if operation == "create" and status == 201:
                assert email is not None
                created = User(int(response.json()["id"]), email)
            elif (
                operation == "get"
                and status == 200
                and own is not None
                and response.json()["email"] != own.email
            ):
                error = "WrongUser"  # another user's body: the stack mixed rows or cache keys up
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        except (ValueError, KeyError, TypeError):  # a 2xx whose body is not the user: not acknowledged
            error = "BadBody"
        return Record(operation, method, path, started, time.monotonic(), status, error, email, created)

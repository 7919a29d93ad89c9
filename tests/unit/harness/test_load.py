"""tests/support/load.py against a users API stand-in served by uvicorn on 127.0.0.1 from this test: every
request recorded, a window of failures measured as the server produced it, a write that timed out kept
out of the acknowledged users (though the server stored it), and the outage arithmetic on its own."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from tests.support.load import MAX_RATE, Load, Mix, Record, User, longest_outage, summarize

from kubelocal.wait import eventually


@dataclass
class StandIn:
    """The users API's answers for these routes (201 + the user, 200, 404, a 503 problem while failing),
    with switches the test flips and what the server did, timed on the same monotonic clock as the load."""

    users: dict[int, str] = field(default_factory=dict)
    failing: threading.Event = field(default_factory=threading.Event)
    failed_at: list[float] = field(default_factory=list)
    hang_next_create: threading.Event = field(default_factory=threading.Event)
    hung_emails: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def app(self) -> Starlette:
        async def unavailable() -> Response:
            self.failed_at.append(time.monotonic())
            body = {"type": "about:blank", "title": "Service Unavailable", "status": 503, "detail": "down"}
            return JSONResponse(body, status_code=503, media_type="application/problem+json")

        async def users(request: Request) -> Response:
            if self.failing.is_set():
                return await unavailable()
            if request.method == "GET":
                items = [{"id": i, "email": e} for i, e in sorted(self.users.items())]
                limit = int(request.query_params["limit"])
                return JSONResponse({"items": items[:limit], "next_cursor": None})
            email = str((await request.json())["email"])
            with self.lock:
                user_id = len(self.users) + 1
                self.users[user_id] = email  # stored before any answer: as a commit the client never hears of
            if self.hang_next_create.is_set():
                self.hang_next_create.clear()
                self.hung_emails.append(email)
                await run_in_threadpool(self.release.wait, 30)
            return JSONResponse({"id": user_id, "email": email, "name": "x"}, status_code=201)

        async def user(request: Request) -> Response:
            if self.failing.is_set():
                return await unavailable()
            user_id = int(request.path_params["id"])
            if user_id not in self.users:
                return JSONResponse({"status": 404}, status_code=404, media_type="application/problem+json")
            return JSONResponse({"id": user_id, "email": self.users[user_id], "name": "x"})

        return Starlette(
            routes=[
                Route("/api/users", users, methods=["GET", "POST"]),
                Route("/api/users/{id}", user, methods=["GET"]),
            ]
        )


@pytest.fixture
def served() -> Iterator[tuple[str, StandIn]]:
    stand_in = StandIn()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(stand_in.app(), log_level="warning", lifespan="off", ws="none", http="h11")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    eventually(lambda: server.started, until=bool, timeout=10, what="uvicorn started")
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", stand_in
    finally:
        stand_in.release.set()
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def ok_count(load: Load, after: float = 0.0) -> int:
    return sum(1 for r in load.records() if r.ok and r.started > after)


def test_every_request_is_recorded_and_every_acknowledged_user_is_one_the_server_stored(
    served: tuple[str, StandIn],
) -> None:
    url, stand_in = served
    with Load(url, clients=3, rate=MAX_RATE, max_requests=60, list_limit=5) as load:
        eventually(load.finished, until=bool, timeout=30, what="60 requests sent")
    summary = load.summary
    assert len(summary.records) == 60
    assert summary.failures == () and summary.outage is None and summary.outage_seconds == 0.0
    assert sum(summary.counts.values()) == 60
    assert set(summary.counts) <= {"create 201", "get 200", "list 200"}, summary.counts
    assert summary.counts["get 200"] > 0 and summary.counts["list 200"] > 0, summary.counts
    assert summary.acknowledged == {User(i, e) for i, e in stand_in.users.items()}
    assert summary.unacknowledged_emails == frozenset()
    assert {r.path for r in summary.records if r.operation == "list"} == {"/api/users?limit=5"}
    read_back = {r.path.rsplit("/", 1)[1] for r in summary.records if r.operation == "get"}
    assert read_back <= {str(u.id) for u in summary.acknowledged}


def test_a_window_of_failures_is_one_outage_spanning_what_the_server_failed(
    served: tuple[str, StandIn],
) -> None:
    """One client, so requests are sent in the order the server sees them and the window has sharp
    edges; several clients would blur an edge by one request, not change what is measured."""
    url, stand_in = served
    with Load(url, clients=1, rate=40, duration=60) as load:
        eventually(lambda: ok_count(load), until=lambda n: n >= 5, timeout=20, what="5 successes before")
        stand_in.failing.set()
        eventually(lambda: len(stand_in.failed_at), until=lambda n: n >= 5, timeout=20, what="5 failures")
        stand_in.failing.clear()
        recovered = time.monotonic()
        eventually(lambda: ok_count(load, recovered), until=lambda n: n >= 5, timeout=20, what="5 after")
    summary = load.summary
    assert len(summary.failures) == len(stand_in.failed_at)
    assert {r.outcome for r in summary.failures} == {"503"}
    outage = summary.outage
    assert outage is not None and outage.failures == summary.failures
    assert outage.started <= stand_in.failed_at[0] and stand_in.failed_at[-1] <= outage.ended
    assert summary.outage_seconds == outage.ended - outage.started > 0
    before = [r for r in summary.records if r.ended <= outage.started]
    after = [r for r in summary.records if r.started >= outage.ended]
    assert before and after and all(r.ok for r in before + after)
    assert len(before) + len(outage.failures) + len(after) == len(summary.records)


def test_a_write_that_timed_out_is_not_acknowledged_though_the_server_stored_it(
    served: tuple[str, StandIn],
) -> None:
    url, stand_in = served
    stand_in.hang_next_create.set()
    # A timeout no healthy local answer comes near on a busy machine: the only failure is the hung write.
    with Load(url, clients=2, rate=20, duration=60, timeout=2.0, mix=Mix(create=1, get=1, list=0)) as load:
        eventually(
            lambda: [r for r in load.records() if r.error],
            until=bool,
            timeout=20,
            what="the hung write to time out",
        )
        eventually(lambda: ok_count(load), until=lambda n: n >= 3, timeout=20, what="3 successes")
        stand_in.release.set()
    summary = load.summary
    [hung] = stand_in.hung_emails
    [timed_out] = summary.failures
    assert (timed_out.operation, timed_out.status, timed_out.error) == ("create", None, "ReadTimeout")
    assert timed_out.email == hung and timed_out.created is None
    assert hung in stand_in.users.values()
    assert hung not in {u.email for u in summary.acknowledged}
    assert summary.unacknowledged_emails == {hung}
    assert summary.acknowledged == {User(i, e) for i, e in stand_in.users.items() if e != hung}
    assert summary.counts["create ReadTimeout"] == 1


def record(started: float, ended: float, status: int | None, error: str | None = None) -> Record:
    return Record("list", "GET", "/api/users?limit=1", started, ended, status, error)


def test_the_longest_outage_is_the_longest_run_of_failures_in_order_of_start() -> None:
    records = [
        record(0.0, 0.1, 200),
        record(1.0, 1.1, 503),  # a short run
        record(2.0, 2.1, 200),
        record(3.0, 5.0, None, "ReadTimeout"),  # a long run: it starts with a request that timed out ...
        record(3.5, 3.6, 200, None),  # ... and a success sent later ends the run, though it ended sooner
        record(6.0, 6.1, None, "ConnectError"),
        record(7.0, 7.1, 502),
        record(8.0, 8.4, None, "ConnectError"),
        record(9.0, 9.1, 200),
    ]
    outage = longest_outage(records)
    assert outage is not None
    assert [r.started for r in outage.failures] == [6.0, 7.0, 8.0]
    assert (outage.started, outage.ended) == (6.0, 8.4)
    assert outage.seconds == pytest.approx(2.4)
    assert longest_outage(records[:3]) is not None
    assert longest_outage([record(0.0, 0.1, 200)]) is None
    # A run still going when the load stopped counts to its last end.
    assert summarize([record(0.0, 0.1, 200), record(1.0, 4.0, None, "ReadTimeout")]).outage_seconds == 3.0


def test_a_load_beyond_the_bounds_is_refused() -> None:
    for bad in ({"rate": MAX_RATE * 2}, {"clients": 0}, {"duration": 3600.0}, {"mix": Mix(create=0)}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            Load("http://127.0.0.1:9", **bad)  # type: ignore[arg-type]

"""The real-pod probe agent (tests/support/probe_agent.py) run as pods run it, `python3 -c <source>`: a
listener logs whom it accepted, a connection attempt says how it ended."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support import probe_agent

from kubelocal.wait import eventually

SOURCE = Path(probe_agent.__file__).read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    port, log = _free_port(), tmp_path / "agent.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-u", "-c", SOURCE, "serve", str(port)], stdout=out)
    try:
        eventually(log.read_text, until=lambda text: text.startswith("serving"), timeout=10, what="agent up")
        yield port, log
    finally:
        proc.kill()
        proc.wait()


def test_an_open_port_and_a_closed_one_and_the_servers_log(server: tuple[int, Path]) -> None:
    port, log = server
    closed = _free_port()
    out = subprocess.run(
        [sys.executable, "-c", SOURCE, "connect", f"127.0.0.1:{port}", f"127.0.0.1:{closed}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    assert json.loads(out) == {f"127.0.0.1:{port}": "open", f"127.0.0.1:{closed}": "refused"}
    eventually(
        log.read_text,
        until=lambda text: f"accepted {port} 127.0.0.1" in text,
        timeout=10,
        what="accept logged",
    )


def test_an_unknown_command_is_refused() -> None:
    result = subprocess.run(
        [sys.executable, "-c", SOURCE, "listen"], capture_output=True, text=True, check=False, timeout=30
    )
    assert result.returncode != 0
    assert "unknown command 'listen'" in result.stderr


@pytest.fixture
def controlled(tmp_path: Path) -> Iterator[tuple[int, int, int]]:
    """An agent listening on a TCP and a UDP port, quiet, with a control port: (tcp, udp, control)."""
    tcp, udp, control = _free_port(), _free_udp_port(), _free_port()
    log = tmp_path / "agent.log"
    args = ["serve", "--quiet", "--control", str(control), "--bind", "127.0.0.1", f"tcp/{tcp}", f"udp/{udp}"]
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-u", "-c", SOURCE, *args], stdout=out)
    try:
        eventually(log.read_text, until=lambda text: text.startswith("serving"), timeout=10, what="agent up")
        yield tcp, udp, control
    finally:
        proc.kill()
        proc.wait()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_one_batch_probes_tcp_and_udp_in_the_order_asked(controlled: tuple[int, int, int]) -> None:
    """An echoed datagram is `open`; a port with no UDP listener answers with an ICMP unreachable, which a
    connected socket reports as a refusal, as kube-router's REJECT does."""
    tcp, udp, control = controlled
    probes = [
        [None, "127.0.0.1", tcp, "TCP"],
        [None, "127.0.0.1", udp, "UDP"],
        [None, "127.0.0.1", _free_port(), "TCP"],
        ["127.0.0.1", "127.0.0.1", _free_udp_port(), "UDP"],
        [None, "127.0.0.1", tcp, "SCTP"],
    ]
    verdicts = probe_agent.ask("127.0.0.1", control, {"probes": probes, "timeout": 2})
    assert verdicts == ["open", "open", "refused", "refused", "error: unknown protocol SCTP"]


class _FakeResolver:
    """A DNS server on loopback over UDP and TCP that answers every query with one A record, or with
    NXDOMAIN for names under `.missing`."""

    def __init__(self) -> None:
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.create_server(("127.0.0.1", self.port))

    @staticmethod
    def answer(query: bytes) -> bytes:
        ident = query[:2]
        missing = b"\x07missing\x00" in query
        flags = b"\x81\x83" if missing else b"\x81\x80"
        counts = b"\x00\x01" + (b"\x00\x00" if missing else b"\x00\x01") + b"\x00\x00\x00\x00"
        record = b"" if missing else b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x1e\x00\x04\x0a\x60\x00\x01"
        return ident + flags + counts + query[12:] + record

    def serve_one_each(self) -> None:
        query, peer = self.udp.recvfrom(512)
        self.udp.sendto(self.answer(query), peer)
        conn, _ = self.tcp.accept()
        with conn:
            size = int.from_bytes(conn.recv(2), "big")
            reply = self.answer(conn.recv(size))
            conn.sendall(len(reply).to_bytes(2, "big") + reply)


def test_a_real_lookup_over_udp_and_tcp_and_a_failed_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """The DNS probes send real queries and read real answers: a name that resolves is `open`, an
    NXDOMAIN is an error, not an open port."""
    resolver = _FakeResolver()
    with resolver.udp, resolver.tcp:
        monkeypatch.setattr(probe_agent, "_exchange", _on_port(probe_agent._exchange, resolver.port))
        worker = threading.Thread(target=resolver.serve_one_each, daemon=True)
        worker.start()
        name = "kubernetes.default.svc.cluster.local"
        assert probe_agent.dns_verdict("127.0.0.1", name, "UDP") == "open"
        assert probe_agent.dns_verdict("127.0.0.1", name, "TCP") == "open"
        worker.join(timeout=10)
        worker = threading.Thread(target=resolver.serve_one_each, daemon=True)
        worker.start()
        assert probe_agent.dns_verdict("127.0.0.1", "x.missing", "UDP") == "error: rcode 3"
        assert probe_agent.dns_verdict("127.0.0.1", "x.missing", "TCP") == "error: rcode 3"
        worker.join(timeout=10)


def _on_port(exchange: Any, port: int) -> Any:
    """The agent's exchange aimed at the fake resolver's port instead of 53."""
    return lambda host, _port, *rest, **kw: exchange(host, port, *rest, **kw)


def test_a_query_is_well_formed_and_a_foreign_answer_is_not_taken() -> None:
    query = probe_agent.dns_query("a.b", 0x1234)
    assert query == b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x01a\x01b\x00\x00\x01\x00\x01"
    assert probe_agent.dns_outcome(_FakeResolver.answer(query), 0x4321) == "error: not our answer"
    assert probe_agent.dns_outcome(_FakeResolver.answer(query), 0x1234) == "open"
    assert probe_agent.dns_outcome(b"\x12", 0x1234) == "error: short reply"


def test_ports_name_their_protocol() -> None:
    assert probe_agent.parse_port("8080") == ("TCP", 8080)
    assert probe_agent.parse_port("tcp/53") == ("TCP", 53)
    assert probe_agent.parse_port("udp/53") == ("UDP", 53)

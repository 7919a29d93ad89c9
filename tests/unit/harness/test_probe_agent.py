"""The real-pod probe agent (tests/support/probe_agent.py) run as pods run it, `python3 -c <source>`: a
listener logs whom it accepted, a connection attempt says how it ended."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

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

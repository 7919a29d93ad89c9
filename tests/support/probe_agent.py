"""A probe agent for real pods, standard library only: its source is passed to `python3 -c` in the lab's
Python image (no image of its own). `serve [--control PORT] [--bind ADDR]... [--quiet] PORT...` listens on
each port (`8080` or `tcp/8080` for TCP, `udp/53` for UDP, which echoes every datagram) and, unless quiet,
prints one line per TCP connection (`accepted PORT PEER`); `connect HOST:PORT...` tries each with a timeout
and prints one JSON object of verdicts. The module must stay runnable as `python3 -c` source: no
`__file__`, no imports from the project.

With `--control PORT` the agent also takes batches of probes from the test (`ask`): one JSON line in, one
out, the probes run concurrently, so one request from the host replaces a `kubectl exec` per source and a
full matrix of a few thousand attempts takes seconds. A probe is `[source, host, port, protocol]`: the
source address to send from (None: the pod's own; the lab's outside world has many), and `TCP`, `UDP`, or
`DNS/UDP` and `DNS/TCP`, a real query for `name` whose answer must hold an address.

Verdicts say how an attempt ended, since a NetworkPolicy's drop and its reject look different from a
missing listener only by contrast: `open` (the handshake completed, the datagram came back, or the name
resolved), `refused` (a RST or an ICMP unreachable: kube-router's REJECT, or no listener), `timeout`
(nothing came back: a DROP).
"""

from __future__ import annotations

import json
import random
import selectors
import socket
import struct
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

CONNECT_TIMEOUT = 2.0
WORKERS = 24


def verdict(host: str, port: int, timeout: float = CONNECT_TIMEOUT, source: str | None = None) -> str:
    """One real TCP connection attempt."""
    try:
        with socket.create_connection((host, port), timeout=timeout, source_address=_bound(source)):
            return "open"
    except OSError as e:
        return _ended(e)


def _ended(e: OSError) -> str:
    """The verdict of an attempt that raised: refused (an RST or an ICMP unreachable), timeout, or why."""
    if isinstance(e, ConnectionRefusedError):
        return "refused"
    if isinstance(e, TimeoutError):
        return "timeout"
    return f"error: {e.strerror or e}"


def _bound(source: str | None) -> tuple[str, int] | None:
    return (source, 0) if source else None


def _exchange(
    host: str, port: int, payload: bytes, timeout: float, source: str | None, stream: bool
) -> bytes | str:
    """Sends one message and returns the first reply, or the verdict that ended the attempt. A UDP socket
    is connected, so an ICMP unreachable (kube-router's REJECT) surfaces as a refusal."""
    kind = socket.SOCK_STREAM if stream else socket.SOCK_DGRAM
    try:
        with socket.socket(socket.AF_INET, kind) as sock:
            sock.settimeout(timeout)
            if source:
                sock.bind((source, 0))
            sock.connect((host, port))
            sock.sendall(struct.pack("!H", len(payload)) + payload if stream else payload)
            reply = sock.recv(4096)
            return reply if reply else "refused"
    except OSError as e:
        return _ended(e)


def udp_verdict(host: str, port: int, timeout: float = CONNECT_TIMEOUT, source: str | None = None) -> str:
    """One datagram, `open` when the echo comes back."""
    reply = _exchange(host, port, b"probe", timeout, source, stream=False)
    return "open" if isinstance(reply, bytes) else reply


def dns_query(name: str, ident: int) -> bytes:
    """A standard query, recursion desired, for the A record of `name`."""
    header = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0)
    labels = b"".join(bytes([len(part)]) + part.encode() for part in name.rstrip(".").split("."))
    return header + labels + b"\x00" + struct.pack("!HH", 1, 1)


def dns_outcome(reply: bytes, ident: int) -> str:
    """`open` for an answer to our query holding at least one record, else what was wrong."""
    if len(reply) < 12:
        return "error: short reply"
    got, flags, _, answers = struct.unpack("!HHHH", reply[:8])
    if got != ident or not flags & 0x8000:
        return "error: not our answer"
    if flags & 0x000F:
        return f"error: rcode {flags & 0x000F}"
    return "open" if answers else "error: no answer"


def dns_verdict(
    server: str, name: str, transport: str, timeout: float = CONNECT_TIMEOUT, source: str | None = None
) -> str:
    """A real lookup over UDP or TCP (TCP messages carry a two-byte length)."""
    ident = random.randrange(1, 0xFFFF)
    stream = transport == "TCP"
    reply = _exchange(server, 53, dns_query(name, ident), timeout, source, stream)
    if isinstance(reply, str):
        return reply
    return dns_outcome(reply[2:] if stream else reply, ident)


def probe(spec: list[Any], timeout: float, name: str) -> str:
    """One probe of a batch: `[source, host, port, protocol]`."""
    source, host, port, protocol = spec
    if protocol == "TCP":
        return verdict(host, int(port), timeout, source)
    if protocol == "UDP":
        return udp_verdict(host, int(port), timeout, source)
    if protocol in ("DNS/UDP", "DNS/TCP"):
        return dns_verdict(host, name, protocol[4:], timeout, source)
    return f"error: unknown protocol {protocol}"


def run_batch(request: dict[str, Any]) -> list[str]:
    """Every probe of a request, concurrently, verdicts in the request's order."""
    timeout = float(request.get("timeout", CONNECT_TIMEOUT))
    name = str(request.get("name", "kubernetes.default.svc.cluster.local"))
    with ThreadPoolExecutor(max_workers=int(request.get("workers", WORKERS))) as pool:
        return list(pool.map(lambda spec: probe(spec, timeout, name), request["probes"]))


def connect(targets: list[str], timeout: float = CONNECT_TIMEOUT) -> dict[str, str]:
    """Each `host:port`, one after the other."""
    found = {}
    for target in targets:
        host, port = target.rsplit(":", 1)
        found[target] = verdict(host, int(port), timeout)
    return found


def parse_port(text: str) -> tuple[str, int]:
    """`8080` and `tcp/8080` are TCP, `udp/53` UDP."""
    protocol, _, number = text.rpartition("/")
    return (protocol.upper() or "TCP"), int(number)


def _answer(sock: socket.socket, quiet: bool) -> None:
    """What a ready listener gets: a TCP connection is accepted and closed, a datagram echoed."""
    if sock.type == socket.SOCK_DGRAM:
        data, peer = sock.recvfrom(4096)
        sock.sendto(data, peer)
        return
    conn, peer = sock.accept()
    if not quiet:
        print(f"accepted {sock.getsockname()[1]} {peer[0]}", flush=True)
    conn.close()


def serve(
    ports: list[str], hosts: tuple[str, ...] = ("0.0.0.0",), quiet: bool = False
) -> list[socket.socket]:
    """Listeners on every port of every host address, answered by one thread; returns them once all are
    bound. A UDP socket is bound to each address so its echo leaves from the address it was sent to."""
    listeners, selector = [], selectors.DefaultSelector()
    for host in hosts:
        for protocol, port in map(parse_port, ports):
            if protocol == "UDP":
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((host, port))
            else:
                sock = socket.create_server((host, port), backlog=128)
            selector.register(sock, selectors.EVENT_READ)
            listeners.append(sock)

    def loop() -> None:
        while True:
            for key, _ in selector.select():
                _answer(key.fileobj, quiet)  # type: ignore[arg-type]

    threading.Thread(target=loop, daemon=True).start()
    return listeners


def _control(listener: socket.socket) -> None:
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=_handle, args=(conn,), daemon=True).start()


def _handle(conn: socket.socket) -> None:
    with conn, conn.makefile("rwb") as stream:
        request = json.loads(stream.readline())
        stream.write(json.dumps({"verdicts": run_batch(request)}).encode() + b"\n")
        stream.flush()


def control(port: int, host: str = "0.0.0.0") -> socket.socket:
    """The port the test sends batches to."""
    listener = socket.create_server((host, port), backlog=32)
    threading.Thread(target=_control, args=(listener,), daemon=True).start()
    return listener


def ask(host: str, port: int, request: dict[str, Any], timeout: float = 120.0) -> list[str]:
    """Sends one batch to an agent's control port and returns its verdicts (the test's side)."""
    with socket.create_connection((host, port), timeout=timeout) as sock, sock.makefile("rwb") as stream:
        stream.write(json.dumps(request).encode() + b"\n")
        stream.flush()
        verdicts: list[str] = json.loads(stream.readline())["verdicts"]
        return verdicts


def _serve_command(args: list[str]) -> None:
    hosts: list[str] = []
    control_port, quiet, ports = None, False, []
    while args:
        arg = args.pop(0)
        if arg == "--control":
            control_port = int(args.pop(0))
        elif arg == "--bind":
            hosts.append(args.pop(0))
        elif arg == "--quiet":
            quiet = True
        else:
            ports.append(arg)
    serve(ports, tuple(hosts) or ("0.0.0.0",), quiet)
    if control_port is not None:
        control(control_port)
    print("serving " + " ".join(ports), flush=True)
    threading.Event().wait()


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "serve":
        _serve_command(args)
    elif command == "connect":
        print(json.dumps(connect(args)), flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}: serve PORT... | connect HOST:PORT...")


if __name__ == "__main__":
    main(sys.argv[1:])

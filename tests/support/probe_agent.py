"""A probe agent for real pods, standard library only: its source is passed to `python3 -c` in the lab's
Python image (no image of its own). `serve PORT...` accepts TCP on each port and prints one line per
connection (`accepted PORT PEER`); `connect HOST:PORT...` tries each with a timeout and prints one JSON
object of verdicts. The module must stay runnable as `python3 -c` source: no `__file__`, no imports from
the project.

Verdicts say how a connection ended, since a NetworkPolicy's drop and its reject look different from a
missing listener only by contrast: `open` (the handshake completed), `refused` (a RST or an ICMP
unreachable: kube-router's REJECT, or no listener), `timeout` (nothing came back: a DROP).
"""

from __future__ import annotations

import json
import socket
import sys
import threading

CONNECT_TIMEOUT = 2.0


def verdict(host: str, port: int, timeout: float = CONNECT_TIMEOUT) -> str:
    """One real connection attempt."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "open"
    except ConnectionRefusedError:
        return "refused"
    except TimeoutError:
        return "timeout"
    except OSError as e:
        return f"error: {e.strerror or e}"


def connect(targets: list[str], timeout: float = CONNECT_TIMEOUT) -> dict[str, str]:
    """Each `host:port`, one after the other (a 2-core machine: no fan-out)."""
    found = {}
    for target in targets:
        host, port = target.rsplit(":", 1)
        found[target] = verdict(host, int(port), timeout)
    return found


def _accept_forever(listener: socket.socket, port: int) -> None:
    while True:
        conn, peer = listener.accept()
        print(f"accepted {port} {peer[0]}", flush=True)
        conn.close()


def serve(ports: list[int], host: str = "0.0.0.0") -> list[socket.socket]:
    """Listeners on `ports`, each answered by a daemon thread; returns them once all are bound."""
    listeners = []
    for port in ports:
        listener = socket.create_server((host, port), backlog=64)
        threading.Thread(target=_accept_forever, args=(listener, port), daemon=True).start()
        listeners.append(listener)
    print("serving " + " ".join(map(str, ports)), flush=True)
    return listeners


def main(argv: list[str]) -> None:
    command, args = argv[0], argv[1:]
    if command == "serve":
        serve([int(p) for p in args])
        threading.Event().wait()
    elif command == "connect":
        print(json.dumps(connect(args)), flush=True)
    else:
        raise SystemExit(f"unknown command {command!r}: serve PORT... | connect HOST:PORT...")


if __name__ == "__main__":
    main(sys.argv[1:])

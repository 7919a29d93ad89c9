"""The servers the users API is measured against, on the same Postgres and Redis: the seed's Express backend
(bench/peers/express-users) and a bare uvicorn endpoint (bench/bare_asgi.py), the ceiling of our stack.

The peer's packages are installed here with `npm ci` from its committed lockfile, by `make bench` only (never
by `make test`), and only when the lockfile changed since the last install.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Self

from localservices.server import LOOPBACK, HttpServer

REPO = Path(__file__).resolve().parents[1]
EXPRESS_USERS = REPO / "bench" / "peers" / "express-users"
_STAMP = ".installed-from-lock-sha256"  # inside node_modules: the lockfile it was installed from


def _lock_digest(peer: Path) -> str:
    return hashlib.sha256((peer / "package-lock.json").read_bytes()).hexdigest()


def install(peer: Path = EXPRESS_USERS) -> None:
    """`npm ci --omit=dev` unless node_modules was already installed from this very lockfile."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            raise SystemExit(
                f"{tool} is not installed, and the benchmark's peer ({peer.relative_to(REPO)}) needs it: "
                "install Node.js 20 or later with npm (Debian: `apt-get install nodejs npm`)"
            )
    stamp = peer / "node_modules" / _STAMP
    digest = _lock_digest(peer)
    if stamp.exists() and stamp.read_text().strip() == digest:
        return
    print(f"  npm ci in {peer.relative_to(REPO)}", flush=True)
    result = subprocess.run(
        ["npm", "ci", "--omit=dev", "--no-audit", "--no-fund"],
        cwd=peer,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise SystemExit(f"npm ci failed in {peer}:\n{result.stdout}{result.stderr}")
    stamp.write_text(digest + "\n")


# Our own settings must not leak into the peer from the caller's environment.
_PEER_VARIABLES = (
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_PASSWORD",
    "CACHE_ENABLED",
    "CACHE_TTL_SECONDS",
    "HOST",
    "PORT",
)


class ExpressUsersServer(HttpServer):
    """`node server.js` of the peer, one process (as the seed ran per pod)."""

    name = "express-users"

    def __init__(self, *, env: Mapping[str, str], port: int | None = None) -> None:
        super().__init__(port=port)
        self.env = dict(env)

    def start(self) -> Self:
        env = {key: value for key, value in os.environ.items() if key not in _PEER_VARIABLES}
        env.update({"HOST": LOOPBACK, "PORT": str(self.port), "NODE_ENV": "production", **self.env})
        node = shutil.which("node") or "node"
        self._spawn([node, str(EXPRESS_USERS / "server.js")], env=env)
        return self


class BareUvicornServer(HttpServer):
    """bench/bare_asgi.py under uvicorn with our server's options: the same bytes, no application work."""

    name = "bare-uvicorn"

    def __init__(self, *, body: bytes, port: int | None = None) -> None:
        super().__init__(port=port)
        self.body = body

    def start(self) -> Self:
        body_file = self.dir / "body.json"
        body_file.write_bytes(self.body)
        env = dict(os.environ)
        env.update({"BARE_BODY_FILE": str(body_file), "PYTHONPATH": str(REPO)})
        argv = [sys.executable, "-m", "uvicorn", "bench.bare_asgi:app", "--host", LOOPBACK]
        argv += ["--port", str(self.port), "--loop", "uvloop", "--http", "httptools", "--workers", "1"]
        argv += ["--no-access-log", "--no-server-header", "--log-level", "warning", "--lifespan", "off"]
        self._spawn(argv, env=env)
        return self

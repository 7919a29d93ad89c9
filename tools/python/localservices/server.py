"""What every local server shares: a free port, its own temp dir, one supervised process.

The temp dir outlives stop(), so start() brings the same server back with its data (the outage tests).
Readiness is a protocol-level answer, never a fixed sleep.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from kubelocal.process import Credentials, Supervised, credentials, free_port, wait_for

LOOPBACK = "127.0.0.1"


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http only
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def console_script(name: str) -> str:
    """A console script of the running interpreter's environment (what the images run), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `bash scripts/setup.sh python`")
    return found


def chown_tree(path: Path, owner: Credentials) -> None:
    if "user" not in owner:
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), owner["user"], owner["group"])
    os.chown(path, owner["user"], owner["group"])


class LocalServer:
    """A context manager: start() on enter, stop() and remove the temp dir on exit."""

    name = "server"
    run_as: str | None = None  # when we are root; see kubelocal.process.credentials
    ready_timeout = 30.0
    stop_signal = signal.SIGTERM
    grace = 15.0

    def __init__(self, *, port: int | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"webstack-{self.name}-"))
        self.dir.chmod(0o755)
        self.log_path = self.dir / f"{self.name}.log"
        self._process: Supervised | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.alive()

    def ready(self) -> bool:
        raise NotImplementedError

    def start(self) -> Self:
        raise NotImplementedError

    def _spawn(self, argv: list[str], *, env: Mapping[str, str] | None = None) -> None:
        """Returns once the server answers, not merely once it runs."""
        if self.running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        # The child may reopen its stdout by path (nginx: /dev/stdout), so it must own the log file.
        self.log_path.touch()
        chown_tree(self.dir, credentials(self.run_as))
        self._process = Supervised(
            self.name,
            argv,
            self.log_path,
            env=env,
            cwd=self.dir,
            run_as=self.run_as,
            stop_signal=self.stop_signal,
            grace=self.grace,
        ).start()
        wait_for(self._process, self.ready, timeout=self.ready_timeout, what=f"{self.name} ready")

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None

    def kill(self) -> None:
        """Simulate a crash: SIGKILL, no shutdown work."""
        if self._process is not None:
            self._process.kill()
            self._process = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.cleanup()


class HttpServer(LocalServer):
    """A server that answers 200 on /healthz once it is ready (nginx, the users API)."""

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def ready(self) -> bool:
        return http_ok(f"{self.url}/healthz")

"""Real Postgres, Redis, nginx and users-API processes on loopback, for the tests, the demo and the benchmark.

Each server is a context manager with start()/stop(): it picks a free port, keeps its files in its own temp
dir, waits for real readiness (a protocol-level answer, never a fixed sleep) and stops only the process it
started, by pid. stop() keeps the data so start() can bring the same server back (outage tests).

Postgres and nginx refuse to run (or to run sensibly) as root, so when we are root they run as the `postgres`
and `nobody` users, which is also closer to production, where nothing runs as root.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Self

from kubelocal.cluster import free_port, pdeathsig_prefix

__all__ = ["NginxServer", "PostgresServer", "RedisServer", "UsersApiServer", "free_port"]

PG_BIN = Path(os.environ.get("WEBSTACK_PG_BIN", "/usr/lib/postgresql/15/bin"))
REDIS_SERVER = os.environ.get("WEBSTACK_REDIS_SERVER", "/usr/bin/redis-server")
NGINX = os.environ.get("WEBSTACK_NGINX", "/usr/sbin/nginx")
LOOPBACK = "127.0.0.1"

_LIVE: set[ManagedProcess] = set()


def wait_for(
    check: Callable[[], bool], *, timeout: float, what: str, alive: Callable[[], bool], log: Path
) -> None:
    """Poll `check` until it holds; fail early if the process died, and with its log tail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if not alive():
            raise RuntimeError(f"{what} exited during startup; log tail:\n{tail(log)}")
        if time.monotonic() >= deadline:
            raise RuntimeError(f"{what} not ready after {timeout}s; log tail:\n{tail(log)}")
        time.sleep(0.05)


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _unprivileged(name: str) -> tuple[int, int] | None:
    """(uid, gid) to drop to when we are root, else None (we already are unprivileged)."""
    if os.geteuid() != 0:
        return None
    entry = pwd.getpwnam(name)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, owner: tuple[int, int] | None) -> None:
    if owner is None:
        return
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.chown(os.path.join(root, name), *owner)
    os.chown(path, *owner)


class ManagedProcess:
    """One long-running child process with its own temp dir and log file."""

    name = "process"

    def __init__(self, *, port: int | None = None, run_as: str | None = None) -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix=f"webstack-{self.name}-"))
        self.dir.chmod(0o755)
        self.log_path = self.dir / f"{self.name}.log"
        self._owner = _unprivileged(run_as) if run_as else None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def _spawn(self, argv: list[str], *, env: Mapping[str, str] | None = None) -> None:
        if self.running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        # The child may reopen its stdout by path (nginx: /dev/stdout), so it must own the log file.
        self.log_path.touch()
        _chown_tree(self.dir, self._owner)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                # setpriv execs the server in place (same pid); if we die without stopping it, it gets TERM.
                pdeathsig_prefix() + argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=self.dir,
                user=self._owner[0] if self._owner else None,
                group=self._owner[1] if self._owner else None,
                extra_groups=[] if self._owner else None,
                start_new_session=True,  # a Ctrl-C in the terminal reaches us, and we stop it in order
            )
        _LIVE.add(self)

    def _signal_and_wait(self, first: signal.Signals, timeout: float) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(first)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self._process = None
        _LIVE.discard(self)

    def stop(self) -> None:
        self._signal_and_wait(signal.SIGTERM, timeout=15)

    def kill(self) -> None:
        """Simulate a crash: SIGKILL, no shutdown work."""
        self._signal_and_wait(signal.SIGKILL, timeout=10)

    def start(self) -> Self:
        raise NotImplementedError

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


class PostgresServer(ManagedProcess):
    """A throwaway Postgres: initdb once, then start/stop on the same data dir and port."""

    name = "postgres"

    def __init__(
        self,
        *,
        user: str = "webstack",
        password: str = "webstack-test-password",  # noqa: S107 - a throwaway local server
        database: str = "webstack",
        port: int | None = None,
    ) -> None:
        super().__init__(port=port, run_as="postgres")
        self.user = user
        self.password = password
        self.database = database
        self.data_dir = self.dir / "data"
        self.socket_dir = self.dir / "sockets"

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{LOOPBACK}:{self.port}/{self.database}"

    def _as_owner(self, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        subprocess.run(
            argv,
            check=True,
            capture_output=True,
            env=dict(env) if env is not None else None,
            cwd=self.dir,
            user=self._owner[0] if self._owner else None,
            group=self._owner[1] if self._owner else None,
            extra_groups=[] if self._owner else None,
        )

    def _initdb(self) -> None:
        password_file = self.dir / "pwfile"
        password_file.write_text(self.password + "\n")
        self.socket_dir.mkdir(exist_ok=True)
        _chown_tree(self.dir, self._owner)
        self._as_owner(
            [
                str(PG_BIN / "initdb"),
                "--pgdata",
                str(self.data_dir),
                "--username",
                self.user,
                "--pwfile",
                str(password_file),
                "--auth",
                "scram-sha-256",
                "--encoding",
                "UTF8",
                "--locale",
                "C.UTF-8",
                "--no-sync",
            ]
        )
        password_file.unlink()

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(PG_BIN / "pg_isready"), "-q", "-h", LOOPBACK, "-p", str(self.port), "-d", "postgres"],
            check=False,
            capture_output=True,
        )
        return result.returncode == 0

    def start(self) -> Self:
        first_start = not self.data_dir.exists()
        if first_start:
            self._initdb()
        self._spawn(
            [
                str(PG_BIN / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(self.port),
                "-c",
                f"listen_addresses={LOOPBACK}",
                "-c",
                f"unix_socket_directories={self.socket_dir}",
                # A throwaway server: durability buys nothing and costs a lot of test time.
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ]
        )
        wait_for(self._ready, timeout=60, what="postgres", alive=self.running, log=self.log_path)
        if first_start and self.database != "postgres":
            env = {**os.environ, "PGPASSWORD": self.password}
            self._as_owner(
                [
                    str(PG_BIN / "createdb"),
                    "-h",
                    LOOPBACK,
                    "-p",
                    str(self.port),
                    "-U",
                    self.user,
                    self.database,
                ],
                env=env,
            )
        return self

    def psql(self, sql: str) -> str:
        """Run SQL with psql; return its unaligned output. For synchronous code (fixtures, bench)."""
        result = subprocess.run(
            [
                str(PG_BIN / "psql"),
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.dsn,
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return result.stdout.strip()

    def stop(self) -> None:
        # SIGINT is Postgres' "fast" shutdown: roll back open transactions and close connections now.
        self._signal_and_wait(signal.SIGINT, timeout=30)


class RedisServer(ManagedProcess):
    """A throwaway redis-server without persistence (the cache is disposable by design)."""

    name = "redis"

    @property
    def url(self) -> str:
        return f"redis://{LOOPBACK}:{self.port}/0"

    def ping(self) -> bool:
        try:
            with socket.create_connection((LOOPBACK, self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def start(self) -> Self:
        self._spawn(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                LOOPBACK,
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ]
        )
        wait_for(self.ping, timeout=30, what="redis", alive=self.running, log=self.log_path)
        return self


def http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback http only
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


class NginxServer(ManagedProcess):
    """Debian's nginx with the UI's real config template, serving the UI files as the ConfigMap would."""

    name = "nginx"

    def __init__(
        self,
        *,
        backend_url: str,
        assets: Mapping[str, str] | None = None,
        template: str | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(port=port, run_as="nobody")
        from users_api.frontend import load_frontend_assets, nginx_conf_template

        self.backend_url = backend_url
        self.assets = dict(assets) if assets is not None else load_frontend_assets()
        self.template = template if template is not None else nginx_conf_template()
        self.html_dir = self.dir / "html"
        self.conf_path = self.dir / "nginx.conf"

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def render(self) -> str:
        from users_api.frontend import render_nginx_conf

        # The template writes under /tmp (an emptyDir in Kubernetes); here each instance gets its own dir so
        # parallel servers never share a pid file or temp files.
        template = self.template.replace(" /tmp/", f" {self.dir}/")
        return render_nginx_conf(
            template, listen_port=self.port, backend_url=self.backend_url, static_root=str(self.html_dir)
        )

    def start(self) -> Self:
        self.html_dir.mkdir(exist_ok=True)
        for name, text in self.assets.items():
            (self.html_dir / name).write_text(text)
        self.conf_path.write_text(self.render())
        self._spawn(
            [NGINX, "-e", "stderr", "-p", str(self.dir), "-c", str(self.conf_path), "-g", "daemon off;"]
        )
        wait_for(
            lambda: http_ok(f"{self.url}/healthz"),
            timeout=30,
            what="nginx",
            alive=self.running,
            log=self.log_path,
        )
        return self

    def stop(self) -> None:
        self._signal_and_wait(signal.SIGTERM, timeout=15)


def console_script(name: str) -> str:
    """A console script of the running interpreter's environment (what the images run), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise RuntimeError(f"{name} is not installed: run `bash scripts/setup.sh python`")
    return found


def users_api_executable() -> str:
    return console_script("users-api")


# Variables of the users API that must come only from the caller, never leak in from our own environment.
_API_VARIABLES = (
    "DATABASE_URL",
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "REDIS_URL",
    "CACHE_TTL_SECONDS",
    "CACHE_ENABLED",
    "RUN_MIGRATIONS",
    "HOST",
    "PORT",
)


class UsersApiServer(ManagedProcess):
    """`users-api serve` as a subprocess, exactly as the container's ENTRYPOINT runs it."""

    name = "users-api"

    def __init__(self, *, env: Mapping[str, str], port: int | None = None) -> None:
        super().__init__(port=port)
        self.env = dict(env)

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> Self:
        env = {key: value for key, value in os.environ.items() if key not in _API_VARIABLES}
        env.update({"HOST": LOOPBACK, "PORT": str(self.port), "LOG_LEVEL": "info"})
        env.update(self.env)
        self._spawn([users_api_executable(), "serve"], env=env)
        wait_for(
            lambda: http_ok(f"{self.url}/healthz"),
            timeout=60,
            what="users-api",
            alive=self.running,
            log=self.log_path,
        )
        return self

    def stop(self) -> None:
        self._signal_and_wait(signal.SIGTERM, timeout=20)


@atexit.register
def _stop_leftovers() -> None:
    """A crashed test run must not leave servers behind."""
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()

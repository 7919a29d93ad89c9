"""The one way the harness runs a long-lived child: control-plane components, local servers, the operator.

Every child dies with the process that started it (PDEATHSIG), even when that process is SIGKILLed, so a
crashed test run leaves no apiserver holding ports; it is stopped by its own pid, never by name.
PDEATHSIG follows the *thread* that spawned the child: start children from the main thread (or a thread
that outlives them), never from a pool worker, or they get SIGTERM when that worker ends.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import functools
import os
import pwd
import random
import shutil
import signal
import socket
import subprocess
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Self, TypedDict

from kubelocal import leaks
from kubelocal.wait import GiveUp, Timeout, eventually

_LIVE: dict[int, Supervised] = {}


# Resolved here, in the parent: a forked child should do as little as it can before exec (no dlsym).
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl
_PRCTL.argtypes = (ctypes.c_int, ctypes.c_ulong)
_PRCTL.restype = ctypes.c_int
_PR_SET_PDEATHSIG = 1


def _before_exec(parent: int) -> None:
    """In the child, before exec (after the switch of user, which would clear it): PDEATHSIG at once, then
    whether the parent is still there. setpriv sets it too, but only once it runs: a parent killed in
    between (a busy machine makes that window tens of ms) would leave the child running forever.

    Also: a harness run as a background job (`cmd &` in a script) has SIGINT and SIGQUIT ignored, and exec
    keeps an ignored signal ignored, so a child would shrug off its stop signal."""
    for sig in (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:
        os._exit(1)  # nobody is left to read a message: the parent that would is gone


def dies_with_us() -> Callable[[], None]:
    """A `preexec_fn` for any child this process starts: bound to it (PDEATHSIG) before exec, see
    `_before_exec`; with `pdeathsig_prefix`, which keeps it bound across a switch of user done by setpriv."""
    return functools.partial(_before_exec, os.getpid())


def pdeathsig_prefix() -> list[str]:
    """setpriv (util-linux, on every Debian) execs the command in place (same pid) with PDEATHSIG set."""
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        raise RuntimeError("setpriv (util-linux) is missing: without it, children would outlive us")
    return [setpriv, "--pdeathsig", "TERM", "--"]


class Credentials(TypedDict, total=False):
    """Popen/run arguments that switch the child to another user."""

    user: int
    group: int
    extra_groups: list[int]


def credentials(user: str | None) -> Credentials:
    """Run as `user` when we are root (Postgres and nginx refuse root); anyone else stays themselves."""
    if user is None or os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(user)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


# Below the kernel's ephemeral range (ip_local_port_range, 32768-60999 by default), so no outgoing
# connection takes the port between our check and the child's bind, as a kernel-picked port could be; above
# the control plane's own (10250-10259) and below the NodePort range (30000-32767).
FREE_PORTS = range(20000, 30000)
_given: set[int] = set()


def free_port() -> int:
    """A loopback port nothing listens on now, for a child to bind. Never the same one twice in a process;
    another process (a test worker) picks at random from the same range, so a clash needs the same pick."""
    ephemeral = _ephemeral_ports()
    for port in random.sample(FREE_PORTS, len(FREE_PORTS)):
        if port in _given or port in ephemeral:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _given.add(port)
        return port
    raise OSError(f"no free loopback port in {FREE_PORTS.start}-{FREE_PORTS.stop - 1}")


def _ephemeral_ports() -> range:
    """The kernel's range for outgoing connections, on a machine that moved it down into ours."""
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    except (OSError, ValueError):
        return range(32768, 61000)
    return range(int(low), int(high) + 1)


def pid_alive(pid: int) -> bool:
    """Whether a process still runs; a zombie counts as gone (it holds no port and does no work)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return 0
    return 0


class Supervised:
    """A child process with its own log file; start() again after stop() runs the same command."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_path: Path,
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        run_as: str | None = None,
        stop_signal: signal.Signals = signal.SIGTERM,
        grace: float = 15.0,
        also_logs: Callable[[], Iterable[Path]] = tuple,
        whole_group: bool = False,
    ) -> None:
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.cwd = cwd
        self.run_as = run_as
        self.stop_signal = stop_signal
        self.grace = grace  # seconds between stop_signal and SIGKILL
        # Files it writes besides its output (the apiserver's audit log), kept for the run's search for
        # leaked passwords as its log is; a callable, as a rotated file's name is known only once it exists.
        self.also_logs = also_logs
        # A program that forks workers which outlive it (socat's `fork`: PDEATHSIG is not inherited across
        # fork): its stop signals its whole process group (its own session's), and kills what is left.
        self.whole_group = whole_group
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def start(self) -> Self:
        if self.alive():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                pdeathsig_prefix() + self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(self.env) if self.env is not None else None,
                cwd=self.cwd,
                start_new_session=True,  # a Ctrl-C reaches only us, and we stop children in order
                preexec_fn=dies_with_us(),
                **credentials(self.run_as),
            )
        _LIVE[id(self)] = self
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float | None = None) -> None:
        """stop_signal, then SIGKILL if it is still running after `timeout` (default: grace) seconds."""
        self._end(self.stop_signal, self.grace if timeout is None else timeout)

    def kill(self) -> None:
        """A crash: SIGKILL, no shutdown work."""
        self._end(signal.SIGKILL, 10)

    def _end(self, sig: signal.Signals, timeout: float) -> None:
        process, self.process = self.process, None
        _LIVE.pop(id(self), None)
        if process is None:
            return
        if process.poll() is None:
            self._signal(process, sig)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if self.whole_group:
            self._signal(process, signal.SIGKILL)
        self.keep_logs()  # before whoever owns its directory removes them

    def _signal(self, process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
        if not self.whole_group:
            process.send_signal(sig)
            return
        with contextlib.suppress(ProcessLookupError):  # the group is empty
            os.killpg(process.pid, sig)  # its own session: the group's id is its pid

    def keep_logs(self) -> None:
        """Copies its log and its other files for the run's search for leaked passwords (kubelocal.leaks)."""
        leaks.keep_log(self.log_path, self.name)
        for path in self.also_logs():
            leaks.keep_log(path, path.stem)

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def rss_bytes(self) -> int:
        return rss_bytes(self.process.pid) if self.process is not None else 0


def keep_live_logs() -> None:
    """Copies the log of every child still running (the final search runs before they stop)."""
    for process in list(_LIVE.values()):
        process.keep_logs()


def wait_for(process: Supervised, ready: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Until `ready()` holds. A process that exited never gets ready, so that fails at once; either failure
    carries the tail of its log."""

    def probe() -> bool:
        if not process.alive():
            raise GiveUp(f"{process.name} exited while waiting for {what}; log tail:\n{process.tail()}")
        return ready()

    try:
        eventually(probe, timeout=timeout, interval=0.05, what=what)
    except Timeout as e:
        raise Timeout(f"{e}\n{process.name} log tail:\n{process.tail()}") from None


@atexit.register
def _stop_leftovers() -> None:
    """Stop in order what PDEATHSIG would only TERM: Postgres, for one, wants SIGINT."""
    for process in reversed(list(_LIVE.values())):
        with contextlib.suppress(Exception):
            process.stop()

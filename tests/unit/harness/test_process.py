"""kubelocal.process.Supervised: start, stop (SIGTERM, then SIGKILL), kill, log tail, and no child outliving
the process that started it."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import time
from pathlib import Path

import pytest

from kubelocal import leaks, process
from kubelocal.process import Supervised, _before_exec, credentials, keep_live_logs, pid_alive, wait_for
from kubelocal.wait import GiveUp, Timeout, eventually

TOOLS = Path(__file__).resolve().parents[3] / "tools" / "python"


def python(name: str, code: str, tmp_path: Path, **env: str) -> Supervised:
    return Supervised(name, [sys.executable, "-c", code], tmp_path / f"{name}.log", env={**os.environ, **env})


def test_start_stop_and_pid(tmp_path: Path) -> None:
    sleeper = Supervised("sleeper", ["sleep", "60"], tmp_path / "sleeper.log").start()
    pid = sleeper.pid
    assert pid is not None and sleeper.alive() and pid_alive(pid)
    assert sleeper.rss_bytes() > 0
    with pytest.raises(RuntimeError, match="already running"):
        sleeper.start()
    sleeper.stop(timeout=5)
    assert not sleeper.alive() and sleeper.pid is None and not pid_alive(pid)
    assert sleeper.rss_bytes() == 0


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    stubborn = python(
        "stubborn",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True); "
        "time.sleep(60)",
        tmp_path,
    ).start()
    wait_for(stubborn, lambda: stubborn.tail(1) == "ready", timeout=10, what="SIGTERM ignored")
    process = stubborn.process
    assert process is not None
    started = time.monotonic()
    stubborn.stop(timeout=0.2)
    assert process.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5


def test_stop_sends_the_stop_signal_and_kill_sigkill(tmp_path: Path) -> None:
    graceful = Supervised("graceful", ["sleep", "60"], tmp_path / "g.log", stop_signal=signal.SIGINT).start()
    process = graceful.process
    graceful.stop()
    assert process is not None and process.returncode == -signal.SIGINT

    crashed = Supervised("crashed", ["sleep", "60"], tmp_path / "c.log").start()
    process = crashed.process
    crashed.kill()
    assert process is not None and process.returncode == -signal.SIGKILL


def test_the_stop_signal_works_even_when_the_harness_ignores_it(tmp_path: Path) -> None:
    """A harness started as a background job (`make test &`) has SIGINT ignored, and exec keeps it so."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child = Supervised("child", ["sleep", "60"], tmp_path / "c.log", stop_signal=signal.SIGINT).start()
    finally:
        signal.signal(signal.SIGINT, previous)
    process = child.process
    child.stop(timeout=5)
    assert process is not None and process.returncode == -signal.SIGINT


def test_tail_and_a_restart_appends_to_the_same_log(tmp_path: Path) -> None:
    counter = python("counter", "for i in range(5): print(i)", tmp_path).start()
    eventually(lambda: counter.tail(2), until=lambda t: t == "3\n4", timeout=10, what="the last two lines")
    counter.stop()
    counter.start()
    eventually(
        lambda: counter.tail(6), until=lambda t: t == "4\n0\n1\n2\n3\n4", timeout=10, what="a second run"
    )
    counter.stop()
    assert Supervised("none", ["true"], tmp_path / "missing.log").tail() == "(no log)"


def test_wait_for_gives_up_at_once_when_the_process_exits(tmp_path: Path) -> None:
    quitter = python("quitter", "print('bad config'); raise SystemExit(3)", tmp_path).start()
    started = time.monotonic()
    with pytest.raises(GiveUp, match=r"quitter exited while waiting for ready(.|\n)*bad config"):
        wait_for(quitter, lambda: False, timeout=30, what="ready")
    assert time.monotonic() - started < 10


def test_wait_for_times_out_with_the_log_tail(tmp_path: Path) -> None:
    slow = python(
        "slow", "print('still starting', flush=True); import time; time.sleep(60)", tmp_path
    ).start()
    try:
        eventually(slow.tail, timeout=10, what="the first line")
        with pytest.raises(Timeout, match=r"waiting for ready(.|\n)*slow log tail:\nstill starting"):
            wait_for(slow, lambda: False, timeout=0.2, what="ready")
    finally:
        slow.stop()


@pytest.mark.parametrize("run_as", [None, "nobody"])
def test_a_child_dies_with_its_parent(tmp_path: Path, run_as: str | None) -> None:
    """Also as another user: switching users clears PDEATHSIG, so it must be set after the switch."""
    if run_as is not None and os.geteuid() != 0:
        pytest.skip("only root switches users")
    parent = python(
        "parent",
        "import time; from pathlib import Path; from kubelocal.process import Supervised; "
        f"child = Supervised('child', ['sleep', '60'], Path({str(tmp_path / 'child.log')!r}), "
        f"run_as={run_as!r}).start(); print(child.pid, flush=True); time.sleep(60)",
        tmp_path,
        PYTHONPATH=str(TOOLS),
    ).start()
    child = eventually(lambda: int(parent.tail(1)), timeout=10, interval=0.05, what="the child's pid")
    assert pid_alive(child)
    parent.kill()  # no cleanup of any kind: only PDEATHSIG can stop the child now
    eventually(
        lambda: pid_alive(child), until=lambda alive: not alive, timeout=10, what=f"child {child} gone"
    )


def test_only_root_switches_users() -> None:
    assert credentials(None) == {}
    if os.geteuid() == 0:
        assert credentials("nobody")["user"] != 0
    else:
        assert credentials("nobody") == {}


@pytest.mark.parametrize("ours", [True, False])
def test_a_child_is_bound_to_its_parent_before_exec_or_ends(ours: bool) -> None:
    """PDEATHSIG is set in the child before exec, not only by setpriv once it runs: a parent killed in
    between would otherwise leave it running. A child whose parent is already gone ends at once."""
    pid = os.fork()
    if pid == 0:  # the child: report the PDEATHSIG it holds through its exit status
        try:
            _before_exec(os.getppid() if ours else 1)
            held = ctypes.c_int()
            ctypes.CDLL(None).prctl(2, ctypes.byref(held))  # PR_GET_PDEATHSIG
            os._exit(100 + held.value)
        finally:
            os._exit(99)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == (100 + signal.SIGTERM if ours else 1)


def test_the_files_a_process_writes_besides_its_log_are_kept_for_the_leak_search(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As the apiserver's audit log is: while it runs (the final search) and when it stops, with a file
    that only appeared meanwhile (a rotated backup)."""
    monkeypatch.setenv(leaks.LEAK_DIR_VARIABLE, str(tmp_path / "run"))
    audit = tmp_path / "audit.log"
    audit.write_text("first\n")
    writer = Supervised(
        "writer",
        ["sleep", "60"],
        tmp_path / "writer.log",
        also_logs=lambda: sorted(tmp_path.glob("audit*.log")),
    ).start()
    keep_live_logs()
    assert leaks.kept_copy(tmp_path / "run", audit, "audit").read_text() == "first\n"
    backup = tmp_path / "audit-1.log"
    backup.write_text("rotated\n")
    audit.write_text("second\n")
    writer.stop()
    assert leaks.kept_copy(tmp_path / "run", audit, "audit").read_text() == "second\n"
    assert leaks.kept_copy(tmp_path / "run", backup, "audit-1").read_text() == "rotated\n"
    assert leaks.kept_copy(tmp_path / "run", writer.log_path, "writer").exists()


def test_free_ports_are_outside_the_ephemeral_range_and_never_given_twice() -> None:
    ephemeral = process._ephemeral_ports()
    ports = [process.free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    assert all(p in process.FREE_PORTS and p not in ephemeral for p in ports)


def test_a_port_someone_listens_on_is_not_given(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        taken = process.free_port()
        held.bind(("127.0.0.1", taken))
        held.listen()
        monkeypatch.setattr(process, "FREE_PORTS", range(taken, taken + 2))
        monkeypatch.setattr(process, "_given", set())
        monkeypatch.setattr(process, "_ephemeral_ports", lambda: range(0))
        assert process.free_port() == taken + 1


def test_a_whole_group_child_takes_its_forked_workers_with_it(tmp_path: Path) -> None:
    # As socat's `fork`: the workers do not inherit PDEATHSIG and would outlive the parent.
    pids = tmp_path / "worker.pid"
    script = f"sleep 300 & echo $! > {pids}; trap 'exit 0' TERM; wait"
    child = Supervised("forks", ["sh", "-c", script], tmp_path / "forks.log", whole_group=True).start()
    written = eventually(lambda: pids.read_text().strip() if pids.exists() else "", until=bool, timeout=10)
    worker = int(written)
    assert pid_alive(worker)
    child.stop(timeout=5)
    eventually(lambda: not pid_alive(worker), until=bool, timeout=10, what="the forked worker ends")

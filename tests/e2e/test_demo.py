"""`make demo`, run as a user would (non-interactively): the UI works in a real browser, the stack is
Ready, drift is undone while the UI keeps working, Redis refuses a client without the password, nothing of
the demo is left after it exits, and none of its logs holds a password it generated."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest
from tests.helpers import CHROMIUM, CHROMIUM_ARGS

from kubelocal import leaks
from kubelocal.process import pdeathsig_prefix, pid_alive
from kubelocal.wait import GiveUp, eventually

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

ROOT = Path(__file__).resolve().parents[2]


def _start_demo(tmp_path: Path, exit_after: int) -> tuple[subprocess.Popen[str], Path]:
    log = tmp_path / "demo.log"
    env = {
        **os.environ,
        "DEMO_EXIT_AFTER": str(exit_after),
        "DEMO_STATE_FILE": str(tmp_path / "state.json"),
        # Its own record: the passwords it generated or read, and a copy of every log it wrote.
        leaks.LEAK_DIR_VARIABLE: str(tmp_path / "leaks"),
    }
    env.pop("KUBECONFIG", None)
    with log.open("w") as out:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [*pdeathsig_prefix(), sys.executable, str(ROOT / "scripts" / "demo.py")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            text=True,
            start_new_session=True,
        )
    return proc, log


def _wait_ready(proc: subprocess.Popen[str], log: Path, tmp_path: Path) -> dict[str, Any]:
    def state() -> dict[str, Any] | None:
        if proc.poll() is not None:
            raise GiveUp(f"the demo exited early:\n{log.read_text()[-5000:]}")
        f = tmp_path / "state.json"
        return dict(json.loads(f.read_text())) if f.exists() else None

    return eventually(state, timeout=420, interval=1, what=f"the demo to be ready (log {log})")  # type: ignore[return-value]


def _kubectl(state: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    from kubelocal.binaries import Binaries

    return subprocess.run(
        [str(Binaries.locate().kubectl), f"--kubeconfig={state['kubeconfig']}", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_demo_end_to_end_in_a_browser(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    proc, log = _start_demo(tmp_path, exit_after=900)
    try:
        state = _wait_ready(proc, log, tmp_path)
        text = log.read_text()
        assert "X-Cache: MISS" in text and "X-Cache: HIT" in text, text[-3000:]
        assert "PING without the password -> NOAUTH" in text, text[-3000:]
        assert "done in" in text  # a progress line per step, with its time

        ws = _kubectl(state, "get", "ws", state["name"], "-n", state["namespace"])
        assert ws.returncode == 0 and "Ready" in ws.stdout, ws.stdout + ws.stderr

        email = f"demo-{uuid.uuid4().hex[:6]}@example.com"
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.goto(state["url"] + "/")
            page.fill("#email", email)
            page.fill("#name", "Demo User")
            page.click("#add-user-form button[type=submit]")
            expect(page.locator("#users-table tbody tr", has_text=email)).to_be_visible(timeout=10_000)
            page.screenshot(path=str(tmp_path / "demo-ui.png"), full_page=True)

            # Drift while the demo runs: the operator puts the backend Service back; the UI keeps working.
            svc = f"{state['name']}-backend"
            old = json.loads(
                _kubectl(state, "get", "service", svc, "-n", state["namespace"], "-o", "json").stdout
            )
            assert _kubectl(state, "delete", "service", svc, "-n", state["namespace"]).returncode == 0
            eventually(
                lambda: json.loads(
                    _kubectl(state, "get", "service", svc, "-n", state["namespace"], "-o", "json").stdout
                )["metadata"]["uid"],
                until=lambda uid: uid != old["metadata"]["uid"],
                timeout=15,
                what="backend Service restored",
            )
            page.reload()
            expect(page.locator("#users-table tbody tr", has_text=email)).to_be_visible(timeout=10_000)
            page.screenshot(path=str(tmp_path / "demo-ui-after-drift.png"), full_page=True)
            browser.close()
        with urllib.request.urlopen(state["operator_metrics"], timeout=5) as r:
            assert "webstack_drift_corrections_total" in r.read().decode()
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        rc = proc.wait(120)
    assert rc == 0, log.read_text()[-3000:]
    eventually(
        lambda: [p for p in state["pids"] if pid_alive(p)],
        until=lambda alive: not alive,
        timeout=15,
        what="no demo process left behind",
    )
    passwords = leaks.noted_secrets(tmp_path / "leaks")
    for password in passwords:
        leaks.note_secret(password)  # the session's final search looks for them too
    files = leaks.files_under(tmp_path)
    assert len(passwords) >= 2, "the database's and the cache's, generated by the operator in the cluster"
    assert {"operator", "kube-apiserver", "redis", "users-api"} <= {f.name.rsplit("-", 1)[0] for f in files}
    found = leaks.find_leaks(files, passwords)
    assert not found, "\n".join(map(str, found))


def test_demo_runs_twice_in_a_row(tmp_path: Path) -> None:
    for run in (1, 2):
        workdir = tmp_path / f"run{run}"
        workdir.mkdir()
        proc, log = _start_demo(workdir, exit_after=1)
        state = _wait_ready(proc, log, workdir)
        assert proc.wait(180) == 0, log.read_text()[-3000:]
        assert not [p for p in state["pids"] if pid_alive(p)]

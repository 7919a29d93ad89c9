"""`python -m kubelocal up|down|status|serve|clean-real-node`: the local control plane by hand (make
cluster-up/down).

`up` starts a supervisor in the background that owns every component; `down` stops it, and with it, by
their own pids, every process it started.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from kubelocal.binaries import BinariesMissing
from kubelocal.cluster import ClusterError, LocalCluster
from kubelocal.realnode import host
from kubelocal.realnode.layout import LABEL as REAL_NODE_LABEL
from kubelocal.realnode.layout import NODE_NAME as REAL_NODE_NAME
from kubelocal.realnode.preflight import RealNodeRequired
from kubelocal.wait import GiveUp, Timeout, eventually


def default_state_dir() -> Path:
    return Path(
        os.environ.get(
            "WEBSTACK_CLUSTER_DIR", Path(tempfile.gettempdir()) / f"webstack-cluster-{os.getuid()}"
        )
    )


def _supervisor_pid(state: Path) -> int | None:
    try:
        pid = int((state / "supervisor.pid").read_text())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def serve(state: Path, nodes: int) -> int:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    (state / "supervisor.pid").write_text(str(os.getpid()))
    shutil.rmtree(state / "cluster", ignore_errors=True)  # every `up` is a fresh cluster
    cluster = LocalCluster(nodes=nodes, workdir=state / "cluster", with_real_node=None)
    try:
        cluster.start()
        info = {
            "kubeconfig": str(cluster.kubeconfig_path),
            "server": cluster.server_url,
            "startup_seconds": round(cluster.startup_seconds, 1),
            "pids": cluster.pids(),
            "logs": str(cluster.logs_dir),
            "audit_log": str(cluster.audit_log_path),
            "real_node": REAL_NODE_NAME if cluster.real_node else None,
            "real_node_reason": cluster.real_node_reason,
        }
        (state / "ready.json").write_text(json.dumps(info))
        while not stop.wait(1.0):
            dead = [n for n, c in cluster.components.items() if not c.alive()]
            if dead:
                print(f"component(s) exited: {', '.join(dead)}\n{cluster.tail_logs()}", file=sys.stderr)
                return 1
        return 0
    except (ClusterError, BinariesMissing, RealNodeRequired) as e:
        (state / "failed").write_text(str(e))
        print(e, file=sys.stderr)
        return 1
    finally:
        cluster.stop()
        shutil.rmtree(state / "cluster", ignore_errors=True)
        for name in ("ready.json", "supervisor.pid"):
            (state / name).unlink(missing_ok=True)


def up(state: Path, nodes: int) -> int:
    if _supervisor_pid(state) and (state / "ready.json").exists():
        info = json.loads((state / "ready.json").read_text())
        print(f"already running\nexport KUBECONFIG={info['kubeconfig']}")
        return 0
    state.mkdir(parents=True, exist_ok=True)
    (state / "failed").unlink(missing_ok=True)
    # Not Supervised, and without PDEATHSIG: this supervisor is meant to outlive `up` (until `down`).
    with (state / "supervisor.log").open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "kubelocal", "serve", "--state-dir", str(state), "--nodes", str(nodes)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )

    def ready() -> bool:
        if proc.poll() is not None:
            raise GiveUp((state / "supervisor.log").read_text()[-4000:])
        return (state / "ready.json").exists()

    try:
        # The first start on a machine also loads the lab images into the real node's containerd (~1 min).
        eventually(ready, timeout=360, interval=0.2, what="the control plane")
    except (GiveUp, Timeout) as e:
        proc.terminate()
        print(e, file=sys.stderr)
        return 1
    info = json.loads((state / "ready.json").read_text())
    print(f"local control plane ready in {info['startup_seconds']}s (logs: {info['logs']})")
    if info.get("real_node"):
        tolerate = f"{REAL_NODE_LABEL}=true"
        print(f"real node {info['real_node']} Ready: pods that tolerate {tolerate} run in containers")
    else:
        print(f"no real node: {info.get('real_node_reason')}; kwok nodes only")
    print(f"export KUBECONFIG={info['kubeconfig']}")
    return 0


def down(state: Path) -> int:
    pid = _supervisor_pid(state)
    if pid is None:
        print("not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    try:
        eventually(
            lambda: _supervisor_pid(state), until=lambda p: p is None, timeout=60, what="kubelocal to stop"
        )
    except Timeout as e:
        print(e, file=sys.stderr)
        return 1
    print("stopped")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="kubelocal")
    parser.add_argument("command", choices=["up", "down", "status", "serve", "clean-real-node"])
    parser.add_argument("--state-dir", type=Path, default=default_state_dir())
    parser.add_argument("--nodes", type=int, default=2)
    args = parser.parse_args()
    state: Path = args.state_dir
    if args.command == "serve":
        return serve(state, args.nodes)
    if args.command == "up":
        return up(state, args.nodes)
    if args.command == "down":
        return down(state)
    if args.command == "clean-real-node":
        # After a crash: what a real node whose harness died left (containers, mounts, chains, settings).
        print(f"real node: {host.clean_after_crash()}")
        return 0
    print("running" if _supervisor_pid(state) else "not running")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What the real node changes on the machine beyond its processes, and how a stop (or the next start,
after a crash) puts it back: the node address on `lo`, the lock, container shims, mounts, pod cgroups,
the bridge and kube-proxy's iptables chains.

One real node per machine: the node address, the bridge and kube-proxy's chains are machine-wide. The
lock (flock, released by the kernel when its holder dies) says who has it; the state file beside it names
the last holder's directory, so a start after a crash cleans what that run left.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from kubelocal.realnode.layout import BRIDGE, NODE_IP, NodeLayout

RUN_DIR = Path(os.environ.get("WEBSTACK_REAL_NODE_RUN_DIR", "/run/webstack-real-node"))
CGROUP_V1 = Path("/sys/fs/cgroup")


class NodeBusy(RuntimeError):
    """Another cluster on this machine holds the real node."""


@dataclass
class Claim:
    """The machine-wide lock, held for the node's life."""

    handle: IO[str]

    def release(self) -> None:
        (RUN_DIR / "state.json").unlink(missing_ok=True)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def claim(layout: NodeLayout) -> Claim:
    """Takes the lock or says who holds it; cleans what a crashed holder left before taking over."""
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    handle = (RUN_DIR / "lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "another process"
        handle.close()
        raise NodeBusy(f"the real node is held by another cluster on this machine ({holder})") from None
    handle.truncate(0)
    handle.write(f"pid {os.getpid()}, {layout.root}")
    handle.flush()
    state = RUN_DIR / "state.json"
    with contextlib.suppress(OSError, ValueError, KeyError):
        previous = json.loads(state.read_text())
        clean_leftovers(Path(previous["root"]), previous["cgroup_parent"])
    state.write_text(json.dumps({"root": str(layout.root), "cgroup_parent": layout.cgroup_parent}))
    return Claim(handle)


def run(*argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=60)


def add_node_address() -> None:
    """The node IP as a /32 on `lo` (this kernel has no dummy driver), and forwarding for the bridge."""
    if NODE_IP not in run("ip", "-4", "-o", "addr", "show", "dev", "lo").stdout:
        run("ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo", check=True)
    Path("/proc/sys/net/ipv4/ip_forward").write_text("1\n")


def shim_pids(socket: Path) -> list[int]:
    """containerd's shims outlive containerd by design; ours are the ones started with our socket."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if argv and argv[0].endswith(b"containerd-shim-runc-v2") and str(socket).encode() in argv:
                found.append(int(proc.name))
    return found


def _cgroup_pids(cgroup_parent: str) -> list[int]:
    pids: list[int] = []
    base = CGROUP_V1 / "pids" / cgroup_parent.lstrip("/")
    for procs in base.rglob("cgroup.procs") if base.exists() else []:
        with contextlib.suppress(OSError, ValueError):
            pids += [int(p) for p in procs.read_text().split()]
    return pids


def kill_containers(socket: Path, cgroup_parent: str) -> None:
    """SIGKILL every container process (found by the pods' cgroups) and every shim of ours."""
    for pid in {*_cgroup_pids(cgroup_parent), *shim_pids(socket)}:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def make_cgroups(cgroup_parent: str) -> None:
    """The kubelet's cgroup root must exist in every v1 hierarchy before it starts (it refuses otherwise)."""
    for hierarchy in CGROUP_V1.iterdir():
        if hierarchy.name != "unified" and (hierarchy / "cgroup.procs").exists():
            (hierarchy / cgroup_parent.lstrip("/")).mkdir(exist_ok=True)


def _remove_cgroups(cgroup_parent: str) -> None:
    """Empty pod cgroups, deepest first, in every v1 hierarchy (the kubelet made them in each)."""
    for hierarchy in CGROUP_V1.iterdir():
        base = hierarchy / cgroup_parent.lstrip("/")
        if not base.is_dir():
            continue
        for d in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
            with contextlib.suppress(OSError):
                d.rmdir()
        with contextlib.suppress(OSError):
            base.rmdir()


def unmount_under(root: Path) -> None:
    """Every mount below `root` (volumes, shm, overlay rootfs, netns), deepest first, lazily."""
    prefix = str(root).rstrip("/") + "/"
    targets = []
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            target = line.split()[4].replace("\\040", " ")
            if target.startswith(prefix):
                targets.append(target)
    for target in sorted(set(targets), key=len, reverse=True):
        run("umount", "-l", target)


def clean_leftovers(root: Path, cgroup_parent: str) -> None:
    """Whatever a node rooted at `root` left running or mounted; safe when it left nothing."""
    kill_containers(root / "containerd.sock", cgroup_parent)
    unmount_under(root)
    _remove_cgroups(cgroup_parent)
    run("ip", "link", "delete", BRIDGE)
    remove_kubelet_chains()


# The kubelet's own chains (it drops non-loopback traffic to 127/8 and keeps canaries); kube-proxy's are
# removed by `kube-proxy --cleanup`.
_KUBELET_CHAINS = {
    "filter": ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY"),
    "nat": ("KUBE-KUBELET-CANARY",),
    "mangle": ("KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"),
}


def remove_kubelet_chains() -> None:
    for tool in ("iptables", "ip6tables"):
        for table, chains in _KUBELET_CHAINS.items():
            for hook in ("INPUT", "OUTPUT"):
                run(tool, "-t", table, "-D", hook, "-j", "KUBE-FIREWALL")
            for chain in chains:
                run(tool, "-t", table, "-F", chain)
                run(tool, "-t", table, "-X", chain)


def remove_node_address() -> None:
    run("ip", "addr", "del", f"{NODE_IP}/32", "dev", "lo")

"""What the real node changes on the machine beyond its processes, and how a stop (or the next start, or
`python -m kubelocal clean-real-node`, after a crash) puts it back: the node address and a route on `lo`,
kernel settings, the lock, container shims, mounts, pod cgroups, the bridge, the iptables chains and
kube-router's ipsets.

One real node per machine: the node address, the bridge and kube-proxy's chains are machine-wide. The
lock (flock, released by the kernel when its holder dies) says who has it; the state file beside it records
what the holder changed (its directory, its cgroups, the kernel settings as they were before it), so
whoever cleans after a crash puts back exactly that.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO

from kubelocal.realnode import firewall
from kubelocal.realnode.layout import BRIDGE, NODE_IP, NodeLayout

RUN_DIR = Path(os.environ.get("WEBSTACK_REAL_NODE_RUN_DIR", "/run/webstack-real-node"))
CGROUP_V1 = Path("/sys/fs/cgroup")
# Kernel settings the node changes: forwarding for the bridge, ICMP errors unthrottled (below), and those
# the kubelet sets at start (`setupKernelTunables`: it panics on oops, overcommits memory...), machine-wide.
# Saved before, put back after.
SYSCTLS = (
    "net/ipv4/ip_forward",
    "net/ipv4/icmp_ratelimit",
    "net/ipv4/icmp_msgs_per_sec",
    "net/ipv4/icmp_msgs_burst",
    "vm/overcommit_memory",
    "vm/panic_on_oom",
    "kernel/panic",
    "kernel/panic_on_oops",
    "kernel/keys/root_maxkeys",
    "kernel/keys/root_maxbytes",
)
_PROC_SYS = Path("/proc/sys")
# kube-router refuses what no policy allows with an ICMP port unreachable (REJECT), which the kernel rate
# limits like any ICMP error: per destination (one a second after a burst of six) and machine-wide (1000 a
# second). A pod refused many times in a second (the connectivity probes make thousands of attempts) would
# see the later refusals as drops and wait out a timeout for each.
UNTHROTTLED_ICMP = {
    "net/ipv4/icmp_ratelimit": "0",
    "net/ipv4/icmp_msgs_per_sec": "100000",
    "net/ipv4/icmp_msgs_burst": "10000",
}


class NodeBusy(RuntimeError):
    """Another cluster on this machine holds the real node."""


class CleanupFailed(RuntimeError):
    """Some cleanup steps failed; every other step still ran."""


@dataclass
class HostState:
    """What a real node changed on the machine, recorded before it changes it."""

    root: str
    cgroup_parent: str
    pod_cidr: str
    kube_proxy: str
    sysctls: dict[str, str] = field(default_factory=dict)


@dataclass
class Claim:
    """The machine-wide lock, held for the node's life, and the state it records."""

    handle: IO[str]
    state: HostState

    def release(self) -> None:
        (RUN_DIR / "state.json").unlink(missing_ok=True)
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


def _lock(holder: str) -> IO[str]:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    handle = (RUN_DIR / "lock").open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        found = handle.read().strip() or "another process"
        handle.close()
        raise NodeBusy(f"the real node is held by another cluster on this machine ({found})") from None
    handle.truncate(0)
    handle.write(holder)
    handle.flush()
    return handle


def _previous() -> HostState | None:
    try:
        return HostState(**json.loads((RUN_DIR / "state.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def claim(layout: NodeLayout, pod_cidr: str, kube_proxy: Path) -> Claim:
    """Takes the lock or says who holds it; puts back what a crashed holder left before taking over, then
    records the machine's settings as they are."""
    handle = _lock(f"pid {os.getpid()}, {layout.root}")
    try:
        previous = _previous()
        if previous is not None:
            clean(previous)
        state = HostState(str(layout.root), layout.cgroup_parent, pod_cidr, str(kube_proxy), read_sysctls())
        (RUN_DIR / "state.json").write_text(json.dumps(asdict(state)))
    except BaseException:
        handle.close()
        raise
    return Claim(handle, state)


def clean_after_crash() -> str:
    """What a crashed real node left, put back, when no live cluster holds the node; says what it did."""
    try:
        handle = _lock(f"pid {os.getpid()}, cleaning")
    except NodeBusy as e:
        return f"nothing done: {e}"
    try:
        previous = _previous()
        if previous is None:
            return "nothing to clean"
        clean(previous)
        (RUN_DIR / "state.json").unlink(missing_ok=True)
        return f"cleaned what the real node under {previous.root} left"
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def run(*argv: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """A host command (ip, iptables, umount); most callers accept failure: the thing may be gone already."""
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=60)


def read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        with contextlib.suppress(OSError):
            values[name] = (_PROC_SYS / name).read_text().strip()
    return values


def _restore_sysctls(values: dict[str, str]) -> None:
    for name, value in values.items():
        if name in SYSCTLS:
            (_PROC_SYS / name).write_text(value + "\n")


def prepare_network(pod_cidr: str) -> None:
    """The node IP as a /32 on `lo` (this kernel has no dummy driver), forwarding for the bridge, and the
    pod range unreachable but for the bridge's /24: kwok's pods have addresses but no host, and a ClusterIP
    kube-proxy translates to one must fail here, not leave the machine by the default route."""
    if NODE_IP not in run("ip", "-4", "-o", "addr", "show", "dev", "lo").stdout:
        run("ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo", check=True)
    run("ip", "route", "replace", "unreachable", pod_cidr)
    (_PROC_SYS / "net/ipv4/ip_forward").write_text("1\n")
    for name, value in UNTHROTTLED_ICMP.items():
        (_PROC_SYS / name).write_text(value + "\n")


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


# The kubelet's own chains (it drops non-loopback traffic to 127/8 and keeps canaries); kube-proxy's are
# removed by `kube-proxy --cleanup`.
_KUBELET_CHAINS = {
    "filter": ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY"),
    "nat": ("KUBE-KUBELET-CANARY",),
    "mangle": ("KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"),
}


def remove_kubelet_chains() -> None:
    """Every jump to KUBE-FIREWALL (a crash and a restart can leave two), then the chains."""
    for tool in ("iptables", "ip6tables"):
        for hook in ("INPUT", "OUTPUT"):
            for _ in range(10):
                if run(tool, "-t", "filter", "-D", hook, "-j", "KUBE-FIREWALL").returncode != 0:
                    break
        for table, chains in _KUBELET_CHAINS.items():
            for chain in chains:
                run(tool, "-t", table, "-F", chain)
                run(tool, "-t", table, "-X", chain)


def remove_firewall() -> None:
    """kube-router's chains, the jumps into them and its ipsets (firewall.cleanup_commands). It leaves
    them when stopped, by design (a restart keeps enforcing); `kube-router --cleanup-config` would also
    reset what its other controllers own, and in v2.1.0 its policy cleanup runs with no iptables handler."""
    rules = run("iptables-save", "-t", "filter").stdout
    # Without ipset installed, kube-router cannot have made any set (it refuses to start).
    sets = run("ipset", "list", "-n").stdout.split() if shutil.which("ipset") else []
    failed = []
    for argv in firewall.cleanup_commands(rules, sets):
        result = run(*argv)
        if result.returncode != 0:
            failed.append(f"{shlex.join(argv)}: {result.stderr.strip()}")
    if failed:
        raise CleanupFailed("; ".join(failed))


def clean(state: HostState) -> None:
    """Whatever the node `state` describes left running, mounted or changed; safe when it left nothing.
    Every step runs whatever an earlier one did; the failures are raised together at the end."""
    root = Path(state.root)
    steps: list[tuple[str, Callable[[], object]]] = [
        ("kill containers", lambda: kill_containers(root / "containerd.sock", state.cgroup_parent)),
        ("unmount", lambda: unmount_under(root)),
        ("remove cgroups", lambda: _remove_cgroups(state.cgroup_parent)),
        ("kube-proxy --cleanup", lambda: run(state.kube_proxy, "--cleanup", "--proxy-mode=iptables")),
        ("remove the kubelet's chains", remove_kubelet_chains),
        ("remove kube-router's chains and sets", remove_firewall),
        ("delete the bridge", lambda: run("ip", "link", "delete", BRIDGE)),
        ("delete the pod route", lambda: run("ip", "route", "del", "unreachable", state.pod_cidr)),
        ("remove the node address", lambda: run("ip", "addr", "del", f"{NODE_IP}/32", "dev", "lo")),
        ("restore kernel settings", lambda: _restore_sysctls(state.sysctls)),
    ]
    failed = []
    for name, step in steps:
        try:
            step()
        except (OSError, subprocess.SubprocessError, CleanupFailed) as e:
            failed.append(f"{name}: {e}")
    if failed:
        raise CleanupFailed("; ".join(failed))

"""Operator benchmark on the local control plane: time for N WebStacks to reach Ready, API writes per idle
reconcile, resident memory at N=100, and `kubectl apply --server-side` of the same objects as the
physical reference, all in one run."""

from __future__ import annotations

import datetime
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from kubelocal import LocalCluster
from kubelocal.process import rss_bytes
from kubelocal.target import OPERATOR_CRD_PROJECTS, KubeTarget
from kubelocal.wait import eventually
from localservices import OperatorProcess, operator_command

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- operator:begin -->", "<!-- operator:end -->"
SIZES = tuple(int(n) for n in os.environ.get("BENCH_OPERATOR_SIZES", "10,50,100").split(","))
RESYNC = 20
SPEC: dict[str, Any] = {"backend": {"image": "ghcr.io/webstack-dev/users-api:0.1.0"}}
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _stacks(n: int, prefix: str) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "webstack.dev/v1alpha1",
            "kind": "WebStack",
            "metadata": {"name": f"app{i}", "namespace": f"{prefix}-{i % 10}"},
            "spec": SPEC,
        }
        for i in range(n)
    ]


def _create_namespaces(cluster: KubeTarget, prefix: str) -> None:
    for i in range(10):
        cluster.kubectl("create", "namespace", f"{prefix}-{i}")


def _all_ready(cluster: KubeTarget, prefix: str, n: int) -> bool:
    items = json.loads(cluster.kubectl("get", "webstacks", "-A", "-o", "json").stdout)["items"]
    mine = [i for i in items if i["metadata"]["namespace"].startswith(prefix + "-")]
    return len(mine) == n and all((i.get("status") or {}).get("phase") == "Ready" for i in mine)


def _writes(op: OperatorProcess) -> float:
    return sum(op.metric("webstack_api_requests_total", method=m) for m in WRITE_METHODS)


def _wait_quiet(op: OperatorProcess, window: float = 3.0, limit: float = 120.0) -> None:
    """Until a whole window passes without a write: the end of the create burst."""
    counts: list[float] = []

    def writes_in_last_window() -> float | None:
        counts.append(_writes(op))
        return counts[-1] - counts[-2] if len(counts) > 1 else None

    eventually(
        writes_in_last_window,
        until=lambda writes: writes == 0,
        timeout=limit,
        interval=window,  # a measurement window, not a wait for a condition
        what=f"a {window:.0f}s window without operator writes",
    )


def _kubectl_reference(cluster: KubeTarget, n: int, workdir: Path) -> float:
    """The same rendered objects, applied by kubectl in one server-side apply: the floor for any client."""
    prefix = f"kubectl{n}"
    _create_namespaces(cluster, prefix)
    source = workdir / f"stacks-{n}.yaml"
    source.write_text(yaml.safe_dump_all(_stacks(n, prefix)))
    rendered = subprocess.run(
        [operator_command()[0], "render", "-f", str(source), "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    target = workdir / f"rendered-{n}.json"
    target.write_text(rendered)
    started = time.monotonic()
    cluster.kubectl("apply", "--server-side", "--field-manager=bench", "-f", str(target), timeout=600)
    return time.monotonic() - started


def run() -> None:
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-operator-") as tmp, LocalCluster(nodes=4) as local:
        workdir = Path(tmp)
        cluster = KubeTarget(local.kubeconfig_path, local=local)
        cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
        cluster.install_thirdparty_crds(*OPERATOR_CRD_PROJECTS)
        cluster.wait_established(["webstacks.webstack.dev"])
        op = OperatorProcess(
            local.kubeconfig_path, workdir, env={"WEBSTACK_RESYNC_SECONDS": str(RESYNC)}
        ).start()
        try:
            for n in SIZES:
                prefix = f"bench{n}"
                _create_namespaces(cluster, prefix)
                docs = _stacks(n, prefix)
                started = time.monotonic()
                cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs))
                eventually(
                    lambda prefix=prefix, n=n: _all_ready(cluster, prefix, n),  # type: ignore[misc]
                    timeout=900,
                    interval=0.5,
                    what=f"{n} WebStacks Ready",
                )
                ready_s = time.monotonic() - started
                reference_s = _kubectl_reference(cluster, n, workdir)
                rows.append({"n": n, "ready_s": ready_s, "kubectl_s": reference_s})
                print(
                    f"  N={n:>3}: all Ready in {ready_s:6.1f}s; kubectl apply --server-side of the same "
                    f"objects: {reference_s:5.1f}s",
                    flush=True,
                )
            # Idle: every stack is Ready; let the timer reconcile each at least once and count writes.
            _wait_quiet(op)
            writes0 = _writes(op)
            reconciles0 = op.metric("webstack_reconcile_total")
            time.sleep(RESYNC * 2)  # a measurement window, not a wait for a condition
            idle_reconciles = op.metric("webstack_reconcile_total") - reconciles0
            idle_writes = _writes(op) - writes0
            assert op.process is not None
            rss = rss_bytes(op.process.pid) / 2**20
        finally:
            op.stop()
    summary = {
        "idle_reconciles": idle_reconciles,
        "idle_writes": idle_writes,
        "writes_per_idle_reconcile": idle_writes / idle_reconciles if idle_reconciles else float("nan"),
        "rss_mib": rss,
        "stacks": sum(SIZES),
    }
    print(
        f"  idle: {idle_reconciles:.0f} reconciles, {idle_writes:.0f} API writes "
        f"({summary['writes_per_idle_reconcile']:.2f} per reconcile); operator RSS {rss:.0f} MiB "
        f"with {summary['stacks']} WebStacks",
        flush=True,
    )
    _record(rows, summary)


def _record(rows: list[dict[str, Any]], summary: dict[str, Any]) -> None:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    lines = [
        BEGIN,
        "## Operator on the local control plane",
        "",
        f"Measured {datetime.date.today().isoformat()} on {cpu}, {os.cpu_count()} cores "
        "(etcd, kube-apiserver, controller-manager, scheduler, kwok and the operator all share them).",
        "Each row creates N new WebStacks (the minimal sample, in 10 namespaces) while earlier rows' stacks "
        "stay; `kubectl` is one `kubectl apply --server-side` of the same rendered objects into fresh "
        "namespaces, in the same run: the floor any client pays for those writes.",
        "",
        "| N | all Ready (s) | kubectl apply --server-side (s) | ratio |",
        "|---:|---:|---:|---:|",
        *(
            f"| {r['n']} | {r['ready_s']:.1f} | {r['kubectl_s']:.1f} | {r['ready_s'] / r['kubectl_s']:.1f}x |"
            for r in rows
        ),
        "",
        f"- Idle: {summary['idle_reconciles']:.0f} timer reconciles over {RESYNC * 2}s sent "
        f"{summary['idle_writes']:.0f} API writes: "
        f"**{summary['writes_per_idle_reconcile']:.2f} writes per idle reconcile** (aim: zero).",
        f"- Operator resident memory with {summary['stacks']} WebStacks: **{summary['rss_mib']:.0f} MiB**.",
        END,
    ]
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + "\n".join(lines) + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + "\n".join(lines) + "\n"
    DOC.write_text(text)

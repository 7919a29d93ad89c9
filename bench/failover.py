"""Failover and recovery benchmark: how long the operator has no leader, and how long it takes to catch up
after the API server was out of its reach for a minute. One fresh local control plane, in one run.

- Failover: two replicas (HOSTNAME replica-a and replica-b) electing on one Lease, 5 minimal WebStacks
  Ready. R times (`BENCH_FAILOVER_RUNS`, default 3) for each way of losing the leader — SIGKILL (a crash),
  SIGTERM (a clean stop, which releases the Lease) and SIGSTOP (a process that stops renewing) — the time
  from the signal until the other replica's `webstack_leader` is 1, and until its first write: a child
  Service deleted right after the signal, restored. The lost replica is started again after each run, so
  there are always two.
- Recovery: one operator behind the fault proxy (a ServiceAccount token bound to cluster-admin), 5 stacks
  Ready, the API server unreachable for 60 s; meanwhile (going direct) one stack gets a new image, one child
  Service is deleted and one stack is created. From the end of the outage: until the operator leads again,
  and until every stack is Ready on its latest generation with the Service back.

Results are printed and written into docs/benchmarks.md between the failover markers.
"""

from __future__ import annotations

import json
import os
import signal
import ssl
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.operator import MachineLoad, control_plane, source_revision
from bench.users_api import machine
from faultproxy import FaultProxy
from kubelocal import LocalCluster
from kubelocal.cluster import ClusterError
from kubelocal.target import KubeTarget
from kubelocal.wait import Timeout, eventually
from localservices import OperatorProcess
from localservices.server import LOOPBACK
from webstack_operator.kube.lease import LeaseTiming

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- failover:begin -->", "<!-- failover:end -->"
RUNS = int(os.environ.get("BENCH_FAILOVER_RUNS", "3"))
STACKS = 5
NODES = 4  # kwok nodes: as many as the other cluster tests, ample for 11 minimal stacks
IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
NEW_IMAGE = "ghcr.io/webstack-dev/users-api:0.2.0"
OUTAGE_SECONDS = 60.0
TIMING = LeaseTiming()  # what the operator runs with (runtime.py builds its elector with the defaults)
# A standby sees the last renewal up to one retry period late and looks once per retry period.
EXPIRY_BOUND = TIMING.duration + 2 * TIMING.retry
POLL_SECONDS = 0.1  # the timed loops' look interval: the resolution of every figure below
FAILOVER_NAMESPACE = "bench-failover"
OUTAGE_NAMESPACE = "bench-outage"
ACCOUNT = ("default", "webstack-bench-outage")  # the proxied operator's identity
WAYS: tuple[tuple[signal.Signals, str], ...] = (
    (signal.SIGKILL, "a crash: the Lease is left to expire"),
    (signal.SIGTERM, "a clean stop, as in a rollout: the Lease is released on the way out"),
    (signal.SIGSTOP, "a process that stops renewing; resumed with SIGCONT and stopped after the run"),
)


# ------------------------------------------------------------------------------------------- the API
class Api:
    """Direct reads and deletes with the admin token: a loop looking every 0.1 s cannot afford a kubectl
    process per look on 2 shared cores, and a kubectl start would blur the figures it times."""

    def __init__(self, local: LocalCluster) -> None:
        self.server = local.server_url
        self.token = local.admin_token
        self.context = ssl.create_default_context(cafile=str(local.ca_path))

    def request(self, method: str, path: str) -> dict[str, Any] | None:
        """The object (None when the API server answers 404)."""
        req = urllib.request.Request(f"{self.server}{path}", method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=5) as r:
                return dict(json.load(r))
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def get(self, path: str) -> dict[str, Any] | None:
        return self.request("GET", path)

    def delete(self, path: str) -> None:
        self.request("DELETE", path)


def service_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/services/{name}"


def stacks_path(namespace: str) -> str:
    return f"/apis/webstack.dev/v1alpha1/namespaces/{namespace}/webstacks"


def uid(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else str(obj["metadata"]["uid"])


def up_to_date(stack: dict[str, Any]) -> bool:
    """Ready on its latest spec: the operator has seen this generation and found it Ready."""
    status = stack.get("status") or {}
    return (
        status.get("phase") == "Ready" and status.get("observedGeneration") == stack["metadata"]["generation"]
    )


def stacks_converged(api: Api, namespace: str, count: int) -> bool:
    items = (api.get(stacks_path(namespace)) or {}).get("items") or []
    return len(items) == count and all(up_to_date(s) for s in items)


def apply_stack(cluster: KubeTarget, namespace: str, name: str, image: str = IMAGE) -> None:
    cluster.apply(
        {
            "apiVersion": "webstack.dev/v1alpha1",
            "kind": "WebStack",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"backend": {"image": image}},
        },
        "--field-manager=bench",
    )


def create_ready_stacks(cluster: KubeTarget, api: Api, namespace: str, names: list[str]) -> None:
    cluster.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    for name in names:
        apply_stack(cluster, namespace, name)
    wait_converged(api, namespace, len(names))


def wait_converged(api: Api, namespace: str, count: int, timeout: float = 180) -> None:
    eventually(
        lambda: (api.get(stacks_path(namespace)) or {}).get("items") or [],
        until=lambda items: len(items) == count and all(up_to_date(s) for s in items),
        timeout=timeout,
        interval=1,
        what=f"{count} WebStacks in {namespace} Ready on their latest generation",
    )


# ------------------------------------------------------------------------------------------ replicas
class Replica(OperatorProcess):
    """One operator process; its Lease identity starts with `replica` (its HOSTNAME)."""

    def __init__(
        self, replica: str, kubeconfig: Path, log_dir: Path, env: dict[str, str] | None = None
    ) -> None:
        super().__init__(kubeconfig, log_dir, env={"HOSTNAME": replica, **(env or {})})
        self.replica = replica

    def __repr__(self) -> str:
        return f"{self.replica} (pid {self.pid})"

    def role(self) -> str:
        url = f"http://{LOOPBACK}:{self.liveness_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return str(json.load(r)["role"])
        except urllib.error.HTTPError as e:  # 503: unhealthy, with the same body
            return str(json.load(e)["role"])

    def leads(self) -> bool:
        return self.metric("webstack_leader") == 1

    def send(self, sig: signal.Signals) -> None:
        assert self.pid is not None, f"{self.replica} is not running"
        os.kill(self.pid, sig)


def one_leader(pair: tuple[Replica, Replica]) -> tuple[Replica, Replica]:
    """(leader, standby), once exactly one of the two says it leads."""
    roles = eventually(
        lambda: tuple(r.role() for r in pair),
        until=lambda rs: sorted(rs) == ["leader", "standby"],
        timeout=60,
        what="one leader and one standby",
    )
    return pair if roles[0] == "leader" else (pair[1], pair[0])


def wait_quiet(op: OperatorProcess) -> None:
    """Until the leader has nothing queued: a run starts from a leader at rest, not mid-reconcile."""
    eventually(
        lambda: op.metric("webstack_queue_depth"),
        until=lambda depth: depth == 0,
        timeout=120,
        what=f"{op} with an empty queue",
    )


# ------------------------------------------------------------------------------------------- failover
@dataclass(frozen=True)
class Failover:
    way: str  # the signal's name
    run: int
    new_leader: str
    leads_s: float  # from the signal until the other replica's webstack_leader is 1
    restored_s: float  # from the signal until the Service deleted right after it is back
    restored_by_new_leader: bool  # its child-write counter moved (the old one might have, on SIGTERM)
    exited_s: float | None  # from the signal until the old leader's process was gone (SIGKILL, SIGTERM)


@dataclass
class Results:
    failovers: list[Failover] = field(default_factory=list)
    recovery: Recovery | None = None
    errors: list[str] = field(default_factory=list)


def fail_over(sig: signal.Signals, pair: tuple[Replica, Replica], api: Api, run: int) -> Failover:
    wait_converged(api, FAILOVER_NAMESPACE, STACKS)
    leader, standby = one_leader(pair)
    wait_quiet(leader)
    path = service_path(FAILOVER_NAMESPACE, f"s{(run - 1) % STACKS}-backend")
    before = uid(api.get(path))
    assert before is not None, f"{path} missing before the run"
    written = standby.metric("webstack_object_writes_total")
    needed = {"leads", "restored"} | ({"exited"} if sig != signal.SIGSTOP else set())
    seen: dict[str, float] = {}

    signalled = time.monotonic()
    leader.send(sig)
    api.delete(path)

    def look() -> dict[str, float]:
        if "exited" in needed and "exited" not in seen and not leader.alive():
            seen["exited"] = time.monotonic() - signalled
        if "leads" not in seen and standby.leads():
            seen["leads"] = time.monotonic() - signalled
        if "restored" not in seen and uid(api.get(path)) not in (None, before):
            seen["restored"] = time.monotonic() - signalled
        return seen

    try:
        eventually(
            look,
            until=lambda s: needed <= s.keys(),
            timeout=EXPIRY_BOUND + 90,
            interval=POLL_SECONDS,
            what=f"{standby} leading and {path} restored after {sig.name} to {leader}",
        )
        by_new = standby.metric("webstack_object_writes_total") > written
    finally:
        if sig == signal.SIGSTOP and leader.alive():
            leader.send(signal.SIGCONT)  # a stopped process would hold its SIGTERM until the grace ends
        leader.stop()  # SIGTERM; reaps a process already gone
        leader.start()  # so that there are two again: it stands by
    eventually(leader.role, until=lambda r: r == "standby", timeout=30, what=f"{leader} standing by")
    return Failover(
        sig.name, run, standby.replica, seen["leads"], seen["restored"], by_new, seen.get("exited")
    )


def measure_failovers(
    local: LocalCluster, cluster: KubeTarget, api: Api, workdir: Path, out: Results
) -> None:
    pair = (
        Replica("replica-a", local.kubeconfig_path, workdir),
        Replica("replica-b", local.kubeconfig_path, workdir),
    )
    try:
        for replica in pair:  # one after the other: the first leads, the second stands by
            replica.start()
        one_leader(pair)
        create_ready_stacks(cluster, api, FAILOVER_NAMESPACE, [f"s{i}" for i in range(STACKS)])
        for run in range(1, RUNS + 1):  # the ways interleaved, so that a busier minute hits them alike
            for sig, _ in WAYS:
                try:
                    result = fail_over(sig, pair, api, run)
                except (Timeout, ClusterError, subprocess.SubprocessError, OSError, AssertionError) as e:
                    out.errors.append(f"failover {sig.name} run {run}: {type(e).__name__}: {str(e)[:1000]}")
                    print(f"  FAILED {out.errors[-1]}", flush=True)
                    for replica in pair:
                        if not replica.alive():
                            replica.start()
                    continue
                out.failovers.append(result)
                print(
                    f"  {sig.name} run {run}: {result.new_leader} leads after {result.leads_s:.2f}s, "
                    f"Service restored after {result.restored_s:.2f}s"
                    + ("" if result.restored_by_new_leader else " (by the old leader)")
                    + (f"; old leader exited after {result.exited_s:.2f}s" if result.exited_s else ""),
                    flush=True,
                )
        # While a leader is there to run their finalizers: the next part's operator must not see them.
        cluster.kubectl(
            "delete", "webstacks", "--all", "-n", FAILOVER_NAMESPACE, "--timeout=180s", timeout=200
        )
    finally:
        for replica in pair:
            if replica.alive():
                replica.send(signal.SIGCONT)
            replica.stop()


# ------------------------------------------------------------------------------------------- recovery
@dataclass
class Recovery:
    stood_down_s: float | None = None  # from the outage's start until webstack_leader 0
    leads_s: float | None = None  # from the outage's end until webstack_leader 1
    restored_s: float | None = None  # from the end until the Service deleted during the outage is back
    converged_s: float | None = None  # from the end until every stack is up to date and the Service back
    image_applied: bool = False


def measure_recovery(cluster: KubeTarget, api: Api, workdir: Path) -> Recovery:
    ns = OUTAGE_NAMESPACE
    names = [f"o{i}" for i in range(STACKS)]
    changed, new = names[0], f"o{STACKS}"
    path = service_path(ns, f"{names[1]}-backend")
    server, ca, token = cluster.bearer_access(*ACCOUNT, workdir)
    recovery = Recovery()
    with FaultProxy(server, ca) as proxy:
        op = Replica(
            "proxied",
            proxy.kubeconfig(token, workdir / "proxied.kubeconfig"),
            workdir,
            env={"WEBSTACK_LEASE_NAME": "webstack-bench-outage"},
        )
        op.start()
        try:
            eventually(op.leads, timeout=60, what="the proxied operator leading")
            create_ready_stacks(cluster, api, ns, names)
            wait_quiet(op)
            before = uid(api.get(path))
            outage = proxy.unreachable(OUTAGE_SECONDS)
            started = time.monotonic()
            assert outage.expires_at is not None
            ended = outage.expires_at  # the proxy's clock is time.monotonic
            # Meanwhile, going direct: a new image, a deleted child, a new stack.
            apply_stack(cluster, ns, changed, NEW_IMAGE)
            api.delete(path)
            apply_stack(cluster, ns, new)
            print(f"  outage: changes made {time.monotonic() - started:.1f}s into it", flush=True)

            def look() -> Recovery:
                now = time.monotonic()
                leads = op.leads()
                if now < ended:
                    if not leads and recovery.stood_down_s is None:
                        recovery.stood_down_s = time.monotonic() - started
                    return recovery
                if leads and recovery.leads_s is None:
                    recovery.leads_s = time.monotonic() - ended
                if recovery.restored_s is None and uid(api.get(path)) not in (None, before):
                    recovery.restored_s = time.monotonic() - ended
                if (
                    recovery.restored_s is not None
                    and recovery.converged_s is None
                    and stacks_converged(api, ns, STACKS + 1)
                ):
                    recovery.converged_s = time.monotonic() - ended
                return recovery

            eventually(
                look,
                until=lambda r: r.converged_s is not None and r.leads_s is not None,
                timeout=OUTAGE_SECONDS + 300,
                interval=POLL_SECONDS,
                what="the operator leading and every stack up to date after the outage",
            )
            deployment = api.get(f"/apis/apps/v1/namespaces/{ns}/deployments/{changed}-backend") or {}
            containers = deployment.get("spec", {}).get("template", {}).get("spec", {}).get("containers", [])
            recovery.image_applied = bool(containers) and containers[0].get("image") == NEW_IMAGE
        finally:
            op.stop()
    return recovery


# ------------------------------------------------------------------------------------------------- run
def run() -> None:
    load, revision = MachineLoad(), source_revision()
    load_start = os.getloadavg()[0]
    run_dir = Path(tempfile.mkdtemp(prefix="bench-failover-"))
    print(f"  logs: {run_dir}", flush=True)
    results = Results()

    def recover(cluster: KubeTarget, api: Api) -> None:
        results.recovery = measure_recovery(cluster, api, run_dir)

    with control_plane(NODES, run_dir / "cluster") as (local, cluster):
        api = Api(local)
        attempt(results, "failover", lambda: measure_failovers(local, cluster, api, run_dir, results))
        attempt(results, "recovery", lambda: recover(cluster, api))
    context = load.stop()
    if max(load_start, os.getloadavg()[0]) > (os.cpu_count() or 1):
        context += (
            f" **The load average was above the {os.cpu_count()} cores**: other engineers' suites ran "
            "meanwhile. The takeovers are set by the Lease's timers and hardly move with load; what follows "
            "a takeover (kopf starting, listing, reconciling) waits for a CPU too, and would be shorter on a "
            "quiet machine."
        )
    section = render_section(results, revision, context)
    print(section, flush=True)
    record(section)
    print(f"  recorded in {DOC}", flush=True)


def attempt(results: Results, part: str, measure: Callable[[], None]) -> None:
    """A part that breaks is recorded, with what it last saw, instead of ending the run."""
    try:
        measure()
    except (Timeout, ClusterError, subprocess.SubprocessError, OSError, AssertionError) as e:
        results.errors.append(f"{part}: {type(e).__name__}: {str(e)[:1500]}")
        print(f"  FAILED {results.errors[-1]}", flush=True)


# ---------------------------------------------------------------------------------------------- report
def _spread(values: list[float]) -> str:
    if not values:
        return "—"
    return f"{min(values):.1f} / **{statistics.median(values):.1f}** / {max(values):.1f}"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def failover_rows(results: Results) -> Iterator[str]:
    for sig, meaning in WAYS:
        runs = [f for f in results.failovers if f.way == sig.name]
        each = "; ".join(
            f"{f.leads_s:.1f}, {f.restored_s:.1f}" + ("" if f.restored_by_new_leader else " (old leader)")
            for f in runs
        )
        exits = [f.exited_s for f in runs if f.exited_s is not None]
        exited = f" Exited after {_spread(exits)} s." if exits and sig == signal.SIGTERM else ""
        leads, restored = [f.leads_s for f in runs], [f.restored_s for f in runs]
        after = [r - le for le, r in zip(leads, restored, strict=True)]
        yield (
            f"| {sig.name} ({meaning}).{exited} | {len(runs)} | {_spread(leads)} | {_spread(restored)} | "
            f"{_spread(after)} | {each or '—'} |"
        )


def relead_lines(rec: Recovery) -> list[str]:
    """Why leading again takes a lease duration, when it does."""
    if rec.leads_s is None or rec.leads_s < TIMING.duration:
        return []
    return [
        f"Leading again took longer than the lease duration ({TIMING.duration:.0f} s): a holder past its "
        "renew deadline takes its own Lease back only once it has expired on its own clock (kube/lease.py, "
        '`try_once`: "Our name, but past our deadline"), and that clock starts at its first read after '
        "the outage, because the last renewal it wrote before the outage is one it never read back; so it "
        "sees the Lease as just changed, although nobody has renewed it for the whole outage. Counting "
        "from its own last write would let it lead at its first look after an outage longer than the lease.",
        "",
    ]


def render_section(results: Results, revision: str, context: str) -> str:
    host = machine()
    rec = results.recovery or Recovery()
    stood_down = (
        f"{_s(rec.stood_down_s)} s into the outage"
        if rec.stood_down_s is not None
        else "it was not seen to stand down"
    )
    catching_up = None if rec.converged_s is None or rec.leads_s is None else rec.converged_s - rec.leads_s
    lines = [
        BEGIN,
        "## Failover and recovery (`make bench`, section `failover and recovery after an API outage`)",
        "",
        f"One run of `BENCH_ONLY=failover make bench` ({RUNS} runs per way) on {host['date']}: "
        f"{host['cpu']}, {host['cores']} cores, {host['os']}, Python {host['python']}; the operator at "
        f"{revision}. One fresh local control plane (tools/python/kubelocal, {NODES} kwok nodes) for the "
        "whole run, sharing the cores with the operator processes.",
        "",
        f"Lease settings (`LeaseTiming`, as the operator runs): duration {TIMING.duration:.0f} s, renew "
        f"deadline {TIMING.renew_deadline:.0f} s, retry {TIMING.retry:.0f} s. A standby takes an "
        f"unreleased Lease at most duration + 2 retry periods = {EXPIRY_BOUND:.0f} s after its last "
        "renewal (it sees a renewal up to one retry late and looks once per retry); a released one at its "
        "next look (≤ "
        f"{TIMING.retry:.0f} s). Every figure is read by a loop looking every {POLL_SECONDS} s.",
        "",
        f"**Failover**: two replicas (separate `webstack-operator run` processes, HOSTNAME replica-a and "
        f"replica-b), {STACKS} minimal WebStacks (`spec.backend.image` only) Ready. The leader gets the "
        "signal, and right after it one child Service (`s<i>-backend`) is deleted; *leads* is the time from "
        "the signal until the other replica's `webstack_leader` is 1, *restored* until that Service exists "
        "again (the new leader's first write: its kopf starts, lists, and reconciles). The lost replica is "
        "started again after each run (it stands by), so every run starts from two replicas and a leader at "
        "rest; the ways are interleaved run by run.",
        "",
        "| way of losing the leader | runs | other replica leads (s): min / **median** / max "
        "| deleted Service restored (s): min / **median** / max | restored after it leads (s) "
        "| each run: leads, restored (s) |",
        "|---|---:|---:|---:|---:|---|",
        *failover_rows(results),
        "",
        f"**Recovery after a {OUTAGE_SECONDS:.0f} s outage**: one operator reaching the API server only "
        "through the fault proxy (tools/python/faultproxy; a ServiceAccount token bound to cluster-admin), "
        f"{STACKS} stacks Ready, then every request reset and every watch cut for {OUTAGE_SECONDS:.0f} s "
        "(`proxy.unreachable`). Meanwhile, going direct: one stack's image changed, one child Service "
        f"deleted, one stack created. The operator stood down (`webstack_leader` 0) {stood_down}: it cannot "
        f"renew, and stops writing once its last renewal is {TIMING.renew_deadline:.0f} s old (the renew "
        "deadline; that renewal came up to one retry period before the outage).",
        "",
        "| from the end of the outage until | s |",
        "|---|---:|",
        f"| the operator leads again (`webstack_leader` 1) | {_s(rec.leads_s)} |",
        f"| the Service deleted during the outage is back | {_s(rec.restored_s)} |",
        f"| every stack ({STACKS + 1}) Ready on its latest generation (`status.observedGeneration` == "
        f"`metadata.generation`), and the Service back | **{_s(rec.converged_s)}** |",
        f"| ...of which after it led again | {_s(catching_up)} |",
        "",
        *relead_lines(rec),
        "The changed stack's Deployment runs the new image: "
        + ("yes." if rec.image_applied else "**no** (or not checked: see below)."),
    ]
    if results.errors:
        lines += ["", "Where it broke:", "", *(f"- {e}".replace("\n", " ") for e in results.errors)]
    lines += ["", context, END]
    return "\n".join(lines)


def record(section: str) -> None:
    """Replaces the failover section of docs/benchmarks.md (or appends it); other sections stay as is."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text)

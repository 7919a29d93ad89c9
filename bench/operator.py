"""Operator benchmark on the local control plane, at N = 100, 500 and 1,000 WebStacks, in one run.

Each size (a row) gets two fresh local control planes, one after the other, so no row inherits another's
stacks, operator or etcd:
- on the first, a fresh operator process creates N minimal WebStacks: the time until every one is Ready,
  its RSS with 0 stacks and with N (after Ready and an idle window), the API writes per idle reconcile over
  that window (a short resync makes reconciles happen), reconcile latency p50/p99 from its histogram and,
  after the 500 row (or the last row when 500 is not among the sizes), deleting the stacks: the cache
  gauges must return to their baseline and RSS is reported;
- on the second, one `kubectl apply --server-side` of the same rendered objects into the same namespaces:
  the time of the writes alone (the floor any client pays), and until every Deployment and StatefulSet is
  available (the end state the operator's Ready stands for).

`BENCH_OPERATOR_SIZES=20` makes a quick run. Results are printed and written into docs/benchmarks.md
between the operator markers, with the machine and what else used its CPUs meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from bench.users_api import CompetingLoad, machine
from kubelocal import LocalCluster
from kubelocal.cluster import ClusterError
from kubelocal.kwok import kwok_node  # the simulated nodes' capacity, which sizing must fit
from kubelocal.process import rss_bytes
from kubelocal.target import OPERATOR_CRD_PROJECTS, KubeTarget
from kubelocal.wait import Timeout, eventually
from localservices import OperatorProcess, operator_command
from localservices.server import LOOPBACK
from webstack_operator.kube.quantity import parse_quantity
from webstack_operator.objects import labels
from webstack_operator.status.compute import workload_readiness

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- operator:begin -->", "<!-- operator:end -->"
SIZES = tuple(int(n) for n in os.environ.get("BENCH_OPERATOR_SIZES", "100,500,1000").split(","))
RELEASE_AT = 500  # the row after which the stacks are deleted again (the last row when 500 is not run)
STACKS_PER_NAMESPACE = 10
RESYNC_SECONDS = 60  # short, so that the idle window sees every stack reconciled by the timer
IDLE_WINDOW_SECONDS = 2 * RESYNC_SECONDS
CONCURRENCY = 8  # WEBSTACK_CONCURRENCY, the operator's default, written out so the doc can name it
NODE_HEADROOM = 1.25  # kwok nodes beyond what the pods' requests need
SPEC: dict[str, Any] = {"backend": {"image": "ghcr.io/webstack-dev/users-api:0.1.0"}}
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
WORKLOADS = ("Deployment", "StatefulSet")
GAUGES = ("webstack_cached_children", "webstack_cache_stacks", "webstack_queue_depth")
# Goals from the issue (MB as written there; figures are reported in MiB).
RSS_GOALS_MB = {100: 150, 1000: 400}
READY_RATIO_GOAL = 1.3  # time to Ready over the raw server-side apply, at 100 and 1,000
MIB = 2**20


# ----------------------------------------------------------------------------------------------- figures
def histogram_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """PromQL's histogram_quantile: `buckets` are cumulative (upper bound, count) pairs including +Inf.

    Linear interpolation inside the bucket the rank falls into, the first bucket starting at 0; a rank in
    the +Inf bucket gives the highest finite bound. NaN when there are no observations."""
    if not 0 <= q <= 1:
        raise ValueError(f"quantile {q}: must be between 0 and 1")
    ordered = sorted(buckets)
    if not ordered or ordered[-1][0] != math.inf:
        raise ValueError("a histogram needs its +Inf bucket")
    total = ordered[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    lower, below = 0.0, 0.0
    for upper, count in ordered:
        if count >= rank and count > below:
            if upper == math.inf:
                return lower
            if upper <= 0:
                return upper
            return lower + (upper - lower) * (rank - below) / (count - below)
        lower, below = upper, count
    return lower


_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class OperatorFigures:
    """One scrape of the operator's /metrics, with its RSS and CPU at the same moment."""

    requests: dict[str, float]  # webstack_api_requests_total by method
    reconciles: float
    buckets: dict[float, float]  # webstack_reconcile_duration_seconds_bucket by upper bound
    gauges: dict[str, float]
    created: float  # children created (webstack_object_writes_total{action="Created"})
    api_errors: dict[str, float]
    rss: int
    cpu: float

    @property
    def writes(self) -> float:
        return sum(self.requests.get(m, 0.0) for m in WRITE_METHODS)

    @property
    def reads(self) -> float:
        return sum(v for m, v in self.requests.items() if m not in WRITE_METHODS)


def scrape(op: OperatorProcess) -> OperatorFigures:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{op.metrics_port}/metrics", timeout=10) as r:
        text = r.read().decode()
    requests: dict[str, float] = {}
    buckets: dict[float, float] = {}
    gauges = dict.fromkeys(GAUGES, 0.0)
    errors: dict[str, float] = {}
    reconciles = created = 0.0
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None:
            continue
        name, labels, value = match[1], dict(_LABEL.findall(match[2] or "")), float(match[3])
        if name == "webstack_api_requests_total":
            requests[labels["method"]] = requests.get(labels["method"], 0.0) + value
        elif name == "webstack_reconcile_total":
            reconciles += value
        elif name == "webstack_reconcile_duration_seconds_bucket":
            buckets[float(labels["le"])] = value
        elif name in gauges:
            gauges[name] = value
        elif name == "webstack_object_writes_total" and labels.get("action") == "Created":
            created += value
        elif name == "webstack_api_errors_total":
            errors[labels["status"]] = value
    pid = op.pid or 0
    return OperatorFigures(requests, reconciles, buckets, gauges, created, errors, rss_bytes(pid), _cpu(pid))


def _cpu(pid: int) -> float:
    """User + system CPU seconds of a running process (0 once it is gone)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = text[text.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def quantile_ms(q: float, since: OperatorFigures | None, until: OperatorFigures) -> float:
    """A quantile of the reconciles observed between two scrapes (since the start when `since` is None)."""
    buckets = [(le, n - (since.buckets.get(le, 0.0) if since else 0.0)) for le, n in until.buckets.items()]
    return histogram_quantile(q, buckets) * 1000 if buckets else math.nan


Components = dict[str, tuple[int, float]]  # component -> (RSS bytes, CPU seconds)


def components(local: LocalCluster, op: OperatorProcess | None = None) -> Components:
    figures = {name: (c.rss_bytes(), _cpu(c.pid or 0)) for name, c in local.components.items()}
    if op is not None and op.pid is not None:
        figures["operator"] = (rss_bytes(op.pid), _cpu(op.pid))
    return figures


# ------------------------------------------------------------------------------------------------ a row
@dataclass
class Release:
    """The operator before creating the stacks, holding them, once the WebStacks were deleted (and the
    garbage collector took their children), and once what `deletionPolicy: Retain` keeps was deleted too."""

    before: OperatorFigures
    holding: OperatorFigures
    stacks_deleted: OperatorFigures
    retained_deleted: OperatorFigures
    stacks_seconds: float  # from `kubectl delete webstacks` until the gauges settled
    retained_seconds: float  # from deleting the retained objects until the gauges were at the baseline
    returned: bool  # the gauges came back to their baseline


@dataclass
class Row:
    n: int
    namespaces: int
    nodes: int
    objects: int  # rendered objects of the N stacks
    ready_s: float | None = None
    kubectl_s: float | None = None
    kubectl_available_s: float | None = None
    started: OperatorFigures | None = None  # fresh operator, 0 stacks, synced
    base: OperatorFigures | None = None  # the same, an idle window later (background writes, RSS_0)
    created: OperatorFigures | None = None  # Ready and quiet
    idle: OperatorFigures | None = None  # after the idle window
    at_ready: Components = field(default_factory=dict)
    reference_at_available: Components = field(default_factory=dict)
    release: Release | None = None
    errors: list[str] = field(default_factory=list)


def stack_documents(n: int) -> list[dict[str, Any]]:
    namespaces = namespace_count(n)
    return [
        {
            "apiVersion": "webstack.dev/v1alpha1",
            "kind": "WebStack",
            "metadata": {"name": f"app{i}", "namespace": f"bench-{i % namespaces}"},
            "spec": SPEC,
        }
        for i in range(n)
    ]


def namespace_count(n: int) -> int:
    return max(1, math.ceil(n / STACKS_PER_NAMESPACE))


def render(docs: list[dict[str, Any]], workdir: Path) -> list[dict[str, Any]]:
    """Every object of the stacks, rendered offline by the code the operator applies."""
    source = workdir / "stacks.yaml"
    source.write_text(yaml.safe_dump_all(docs))
    out = subprocess.run(
        [operator_command()[0], "render", "-f", str(source), "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    items: list[dict[str, Any]] = json.loads(out)["items"]
    return items


def nodes_for(n: int, one_stack: list[dict[str, Any]]) -> int:
    """Enough kwok nodes for the pods' CPU, memory and pod count (at least the 4 of the other tests)."""
    cpu, memory, pods = Decimal(0), Decimal(0), 0
    for obj in one_stack:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        replicas = int(obj["spec"].get("replicas", 1))
        pods += replicas
        for container in obj["spec"]["template"]["spec"]["containers"]:
            requests = container.get("resources", {}).get("requests", {})
            cpu += replicas * parse_quantity(requests.get("cpu", "0"))
            memory += replicas * parse_quantity(requests.get("memory", "0"))
    capacity = kwok_node("sizing")["status"]["allocatable"]
    need = max(
        n * cpu / parse_quantity(capacity["cpu"]),
        n * memory / parse_quantity(capacity["memory"]),
        Decimal(n * pods) / parse_quantity(capacity["pods"]),
    )
    return max(4, math.ceil(need * Decimal(NODE_HEADROOM)))


@contextlib.contextmanager
def control_plane(nodes: int, workdir: Path) -> Iterator[tuple[LocalCluster, KubeTarget]]:
    """A fresh local control plane with the CRDs; its logs stay in `workdir`, its etcd data does not."""
    try:
        with LocalCluster(nodes=nodes, workdir=workdir) as local:
            cluster = KubeTarget(local.kubeconfig_path, local=local)
            try:
                cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "crds"))
                cluster.install_thirdparty_crds(*OPERATOR_CRD_PROJECTS)
                cluster.wait_established(["webstacks.webstack.dev"])
                yield local, cluster
            finally:
                cluster.close()
    finally:
        shutil.rmtree(workdir / "etcd", ignore_errors=True)


def create_namespaces(cluster: KubeTarget, n: int) -> None:
    items = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{i}"}}
        for i in range(namespace_count(n))
    ]
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": items})


def ready_stacks(cluster: KubeTarget, timeout: float) -> int:
    out = cluster.kubectl(
        "get", "webstacks", "-A", "-o", "jsonpath={.items[*].status.phase}", timeout=timeout
    ).stdout
    return out.split().count("Ready")


def available_workloads(cluster: KubeTarget, timeout: float) -> int:
    items = json.loads(
        cluster.kubectl("get", "deployments,statefulsets", "-A", "-o", "json", timeout=timeout).stdout
    )["items"]
    return sum(1 for obj in items if (r := workload_readiness(obj)) is not None and r.done)


def wait_count(
    what: str, count: Callable[[], int], target: int, n: int, *, since: float, report: Callable[[], str]
) -> None:
    """Until `count()` reaches `target`, printing progress every 30 s (in seconds `since` the apply began);
    the Timeout names the last count and what `report()` says then (each component's memory and CPU)."""
    started, last_report = since, time.monotonic()
    interval = max(1.0, n / 200)  # every listing costs the 2 shared cores more as N grows

    def probe() -> int:
        nonlocal last_report
        value = count()
        if time.monotonic() - last_report >= 30:
            last_report = time.monotonic()
            print(f"    {what}: {value}/{target} after {last_report - started:.0f}s; {report()}", flush=True)
        return value

    try:
        eventually(
            probe, until=lambda v: v >= target, timeout=max(900.0, 4.0 * n), interval=interval, what=what
        )
    except Timeout as e:
        raise Timeout(f"{e}; then: {report()}") from None


def wait_quiet(op: OperatorProcess, window: float = 5.0, limit: float = 300.0) -> str | None:
    """Until a whole window passes with no reconcile and an empty queue: the burst is over. (Not "no write":
    writes that no reconcile makes, such as a leader's lease renewals, go on.) When that never happens, what
    was last seen; the run goes on, and the idle window shows what the operator does."""
    seen: list[OperatorFigures] = []

    def quiet() -> bool:
        seen.append(scrape(op))
        return (
            len(seen) > 1
            and seen[-1].reconciles == seen[-2].reconciles
            and seen[-1].gauges["webstack_queue_depth"] == 0
        )

    try:
        eventually(quiet, timeout=limit, interval=window, what=f"a {window:.0f}s window without reconciles")
    except Timeout:
        last, previous = seen[-1], seen[-2]
        return (
            f"no {window:.0f}s window without reconciles and with an empty queue within {limit:.0f}s "
            f"(last window: {last.reconciles - previous.reconciles:.0f} reconciles, "
            f"{last.writes - previous.writes:.0f} writes, queue depth "
            f"{last.gauges['webstack_queue_depth']:.0f})"
        )
    return None


def brief(figures: Components) -> str:
    return ", ".join(f"{name} {rss / MIB:.0f} MiB/{cpu:.0f} CPU-s" for name, (rss, cpu) in figures.items())


def operator_progress(local: LocalCluster, op: OperatorProcess) -> str:
    try:
        f = scrape(op)
    except OSError as e:
        return f"operator metrics unreadable ({e}; alive: {op.alive()}); {brief(components(local, op))}"
    errors = ", ".join(f"{status}: {count:.0f}" for status, count in f.api_errors.items()) or "none"
    return (
        f"operator: {f.reconciles:.0f} reconciles, {f.created:.0f} children created, queue "
        f"{f.gauges['webstack_queue_depth']:.0f}, API errors by status {errors}; "
        f"{brief(components(local, op))}"
    )


def measure_operator(row: Row, docs: list[dict[str, Any]], workdir: Path, release: bool) -> None:
    n = row.n
    with control_plane(row.nodes, workdir / "operator-cluster") as (local, cluster):
        op = OperatorProcess(
            local.kubeconfig_path,
            workdir,
            env={"WEBSTACK_RESYNC_SECONDS": str(RESYNC_SECONDS), "WEBSTACK_CONCURRENCY": str(CONCURRENCY)},
        ).start()
        try:
            wait_quiet(op)
            row.started = scrape(op)
            time.sleep(IDLE_WINDOW_SECONDS)  # the same window with no stack: writes that no reconcile makes
            row.base = scrape(op)
            create_namespaces(cluster, n)
            started = time.monotonic()
            cluster.kubectl("apply", "--server-side", "-f", "-", input=yaml.safe_dump_all(docs), timeout=600)
            print(f"  N={n}: the WebStacks applied in {time.monotonic() - started:.1f}s", flush=True)
            wait_count(
                "operator: WebStacks Ready",
                lambda: ready_stacks(cluster, timeout=120),
                n,
                n,
                since=started,
                report=lambda: operator_progress(local, op),
            )
            row.ready_s = time.monotonic() - started
            row.at_ready = components(local, op)
            print(f"  N={n}: all Ready in {row.ready_s:.1f}s; {brief(row.at_ready)}", flush=True)
            if (restless := wait_quiet(op)) is not None:
                row.errors.append(f"operator, after all Ready: {restless}")
            row.created = scrape(op)
            time.sleep(IDLE_WINDOW_SECONDS)  # a measurement window, not a wait for a condition
            row.idle = scrape(op)
            print(f"  N={n}: {describe_idle(row)}", flush=True)
            if release:
                row.release = measure_release(cluster, op, row.base, row.idle, n)
        finally:
            op.stop()


def measure_release(
    cluster: KubeTarget, op: OperatorProcess, before: OperatorFigures, holding: OperatorFigures, n: int
) -> Release:
    """Deletes the WebStacks, then what their default `database.deletionPolicy: Retain` keeps (the
    Postgres volume and its credentials Secret, which the cache rightly still indexes)."""
    limit = max(600.0, 3.0 * n)
    started = time.monotonic()
    cluster.kubectl("delete", "webstacks", "--all", "-A", "--wait=false", timeout=600)
    history: list[OperatorFigures] = []

    def settled() -> bool:  # no WebStack left, and the gauges unchanged for 20 s: the GC is done
        history.append(scrape(op))
        recent = history[-5:]
        return (
            len(recent) == 5
            and all(f.gauges == recent[0].gauges for f in recent)
            and not cluster.kubectl("get", "webstacks", "-A", "-o", "name").stdout.strip()
        )

    eventually(settled, timeout=limit, interval=5, what="the WebStacks gone and the cache gauges settled")
    stacks_deleted, stacks_seconds = history[-1], time.monotonic() - started
    started = time.monotonic()
    retained = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"
    cluster.kubectl("delete", "secrets,persistentvolumeclaims", "-A", "-l", retained, "--wait=false")
    returned = True
    try:
        eventually(
            lambda: scrape(op),
            until=lambda f: f.gauges == before.gauges,
            timeout=limit,
            interval=5,
            what=f"the cache gauges back at {before.gauges}",
        )
    except Timeout:
        returned = False
    retained_seconds = time.monotonic() - started
    wait_quiet(op)
    after = scrape(op)
    print(
        f"  N={n} deleted: gauges {before.gauges} -> {holding.gauges} -> {stacks_deleted.gauges} (WebStacks "
        f"deleted, {stacks_seconds:.0f}s) -> {after.gauges} (retained objects deleted, "
        f"{retained_seconds:.0f}s); "
        f"RSS {before.rss / MIB:.0f} -> {holding.rss / MIB:.0f} -> {stacks_deleted.rss / MIB:.0f} -> "
        f"{after.rss / MIB:.0f} MiB",
        flush=True,
    )
    return Release(before, holding, stacks_deleted, after, stacks_seconds, retained_seconds, returned)


def measure_reference(row: Row, docs: list[dict[str, Any]], workdir: Path) -> None:
    n = row.n
    rendered = workdir / "rendered.json"
    rendered.write_text(json.dumps({"apiVersion": "v1", "kind": "List", "items": render(docs, workdir)}))
    with control_plane(row.nodes, workdir / "kubectl-cluster") as (local, cluster):
        create_namespaces(cluster, n)
        started = time.monotonic()
        cluster.kubectl(
            "apply",
            "--server-side",
            "--field-manager=bench",
            "-f",
            str(rendered),
            timeout=max(900.0, 4.0 * n),
        )
        row.kubectl_s = time.monotonic() - started
        print(
            f"  N={n}: kubectl apply --server-side of {row.objects} objects: {row.kubectl_s:.1f}s", flush=True
        )
        workloads = sum(1 for obj in json.loads(rendered.read_text())["items"] if obj["kind"] in WORKLOADS)
        wait_count(
            "kubectl: workloads available",
            lambda: available_workloads(cluster, timeout=120),
            workloads,
            n,
            since=started,
            report=lambda: brief(components(local)),
        )
        row.kubectl_available_s = time.monotonic() - started
        row.reference_at_available = components(local)
        print(f"  N={n}: ...and every workload available: {row.kubectl_available_s:.1f}s", flush=True)
    rendered.unlink()


@dataclass(frozen=True)
class Idle:
    """The idle window of a row, and the same window with no stack (at its start) for comparison."""

    reconciles: float
    writes: dict[str, float]  # POST/PUT/PATCH/DELETE during the window, by method
    background: dict[str, float]  # the same with no stack: writes no reconcile makes (lease renewals)
    reads: float

    @property
    def reconcile_writes(self) -> float:
        """Writes a reconcile made: every write of a method the operator did not use with no stack, and of
        one it did, what goes beyond that background by more than one (a writer on a fixed period, such as
        the leader's lease renewals, lands once more or less in a window of the same length)."""
        total = 0.0
        for method, count in self.writes.items():
            background = self.background.get(method, 0.0)
            if background == 0 or count - background > 1:
                total += count - background
        return total

    @property
    def writes_per_reconcile(self) -> float:
        return self.reconcile_writes / self.reconciles if self.reconciles else math.nan


def _writes_between(since: OperatorFigures, until: OperatorFigures) -> dict[str, float]:
    return {
        m: until.requests.get(m, 0.0) - since.requests.get(m, 0.0)
        for m in WRITE_METHODS
        if until.requests.get(m, 0.0) != since.requests.get(m, 0.0)
    }


def _by_method(writes: dict[str, float]) -> str:
    return ", ".join(f"{m} {n:,.0f}" for m, n in writes.items()) or "none"


def idle_figures(row: Row) -> Idle | None:
    if row.started is None or row.base is None or row.created is None or row.idle is None:
        return None
    return Idle(
        reconciles=row.idle.reconciles - row.created.reconciles,
        writes=_writes_between(row.created, row.idle),
        background=_writes_between(row.started, row.base),
        reads=row.idle.reads - row.created.reads,
    )


def describe_idle(row: Row) -> str:
    idle = idle_figures(row)
    assert idle is not None
    assert row.base is not None
    assert row.created is not None
    assert row.idle is not None
    return (
        f"idle {IDLE_WINDOW_SECONDS}s: {idle.reconciles:.0f} reconciles, writes {_by_method(idle.writes)} "
        f"(with no stack: {_by_method(idle.background)}): {idle.writes_per_reconcile:.2f} per reconcile; "
        f"RSS {row.base.rss / MIB:.0f} MiB with 0 stacks, {row.idle.rss / MIB:.0f} MiB with {row.n}; "
        f"reconcile p50/p99 {quantile_ms(0.5, None, row.created):.0f}/"
        f"{quantile_ms(0.99, None, row.created):.0f} ms creating, "
        f"{quantile_ms(0.5, row.created, row.idle):.1f}/{quantile_ms(0.99, row.created, row.idle):.1f} ms"
        " idle"
    )


def measure_row(n: int, one_stack: list[dict[str, Any]], run_dir: Path, release: bool) -> Row:
    docs = stack_documents(n)
    row = Row(n, namespace_count(n), nodes_for(n, one_stack), n * len(one_stack))
    workdir = run_dir / f"n{n}"
    workdir.mkdir()
    print(f"  N={n}: {row.namespaces} namespaces, {row.nodes} kwok nodes, {row.objects} objects", flush=True)
    # The reference runs even when the operator's part broke: whether raw writes get through tells the
    # control plane's limit from the operator's.
    attempt(row, "operator", lambda: measure_operator(row, docs, workdir, release))
    attempt(row, "kubectl", lambda: measure_reference(row, docs, workdir))
    return row


def attempt(row: Row, part: str, measure: Callable[[], None]) -> None:
    """A part that breaks is recorded, with what it last saw, instead of ending the run."""
    try:
        measure()
    except (Timeout, ClusterError, subprocess.SubprocessError, OSError, AssertionError) as e:
        message = f"{part}: {type(e).__name__}: {str(e)[:1500]}"
        row.errors.append(message)
        print(f"  N={row.n}: FAILED {message}", flush=True)


# ------------------------------------------------------------------------------------------------- run
class MachineLoad:
    """The machine's CPU time over the run from /proc/stat, and ours: this process and every child it waited
    for (control planes, operators and kubectl all are), so short-lived processes of others count too."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._busy = self._machine_busy()
        self._ours = self._ours_now()
        self._load = os.getloadavg()[0]
        self.competing = CompetingLoad()

    @staticmethod
    def _machine_busy() -> float:
        ticks = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
        # user nice system idle iowait irq softirq steal (guest time is already inside user)
        return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    @staticmethod
    def _ours_now() -> float:
        t = os.times()
        return t.user + t.system + t.children_user + t.children_system

    def stop(self) -> str:
        seconds = time.monotonic() - self.started
        cores = os.cpu_count() or 1
        busy, ours = self._machine_busy() - self._busy, self._ours_now() - self._ours
        other = max(0.0, busy - ours)
        top = self.competing.stop().top()
        busiest = f"; the busiest still running at the end: {top}" if top else ""
        share = other / (seconds * cores)
        verdict = "**The run shared the machine**" if share > 0.05 else "The machine was otherwise quiet"
        return (
            f"{verdict}: of {seconds * cores:,.0f} CPU-seconds available in the {seconds / 60:.0f} min run, "
            f"this benchmark (control planes, operators, kubectl) used {ours:,.0f} and other processes "
            f"{other:,.0f} ({share:.0%}{busiest}); load average "
            f"{self._load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end."
        )


def run() -> None:
    load, revision = MachineLoad(), source_revision()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    print(f"  logs: {run_dir}", flush=True)
    one_stack = render(stack_documents(1), run_dir)
    release_at = RELEASE_AT if RELEASE_AT in SIZES else SIZES[-1]
    rows: list[Row] = []
    for n in SIZES:
        rows.append(measure_row(n, one_stack, run_dir, release=n == release_at))
    context = load.stop()
    print("\n".join(f"  {line}" for line in [*goals(rows), context]), flush=True)
    record(render_section(rows, one_stack, revision, context))
    print(f"  recorded in {DOC}", flush=True)


# ---------------------------------------------------------------------------------------------- report
def source_revision() -> str:
    """The commit measured, and any uncommitted change to the operator's code that the run included."""
    git = ["git", "-C", str(ROOT)]
    commit = subprocess.run([*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout
    dirty = subprocess.run(
        [*git, "status", "--porcelain", "--", "operator", "webapp"], capture_output=True, text=True
    ).stdout.split("\n")
    changed = [line[3:] for line in dirty if line.strip()]
    return f"commit {commit.strip() or 'unknown'}" + (
        f" with uncommitted changes to {', '.join(changed)}" if changed else ""
    )


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:,.1f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if a is None or not b else f"{a / b:.2f}x"


def _mib(value: float) -> str:
    return f"{value / MIB:,.0f}"


def _met(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def goals(rows: list[Row]) -> list[str]:
    lines = []
    by_n = {r.n: r for r in rows}
    for n, mb in RSS_GOALS_MB.items():
        r = by_n.get(n)
        if r is None or r.idle is None:
            lines.append(f"- RSS ≤ {mb} MB at {n:,} stacks: not measured" + (" (row failed)" if r else ""))
        else:
            rss = r.idle.rss
            lines.append(f"- RSS ≤ {mb} MB at {n:,} stacks: {rss / 1e6:,.0f} MB — {_met(rss <= mb * 1e6)}")
    for n in (100, 1000):
        r = by_n.get(n)
        if r is None or r.ready_s is None or r.kubectl_s is None:
            lines.append(
                f"- time to Ready ≤ {READY_RATIO_GOAL}x the raw server-side apply at {n:,}: not measured"
            )
        else:
            ratio = r.ready_s / r.kubectl_s
            lines.append(
                f"- time to Ready ≤ {READY_RATIO_GOAL}x the raw server-side apply at {n:,}: {ratio:.2f}x — "
                f"{_met(ratio <= READY_RATIO_GOAL)}"
            )
    idle = [(r.n, i) for r in rows if (i := idle_figures(r)) is not None]
    shown = ", ".join(f"{i.writes_per_reconcile:.2f} at {n:,}" for n, i in idle)
    verdict = _met(all(i.reconcile_writes == 0 for _, i in idle)) if idle else "not measured"
    lines.append(f"- 0 writes per idle reconcile: {shown or '—'} — {verdict}")
    return lines


def render_section(rows: list[Row], one_stack: list[dict[str, Any]], revision: str, context: str) -> str:
    host = machine()
    pods = sum(int(o["spec"].get("replicas", 1)) for o in one_stack if o["kind"] in WORKLOADS)
    timing = [
        f"| {r.n:,} | {r.namespaces} | {r.nodes} | {r.objects:,} | {_s(r.ready_s)} | {_s(r.kubectl_s)} | "
        f"{_ratio(r.ready_s, r.kubectl_s)} | {_s(r.kubectl_available_s)} | "
        f"{_ratio(r.ready_s, r.kubectl_available_s)} |"
        for r in rows
    ]
    memory = []
    for r in rows:
        idle = idle_figures(r)
        if idle is None or r.base is None or r.idle is None or r.created is None:
            memory.append(f"| {r.n:,} | {_mib(r.base.rss) if r.base else '—'} | — | — | — | — | — | — |")
            continue
        per_stack_kib = (r.idle.rss - r.base.rss) / r.n / 1024
        idle_cpu = r.idle.cpu - r.created.cpu
        memory.append(
            f"| {r.n:,} | {_mib(r.base.rss)} | {_mib(r.idle.rss)} | {per_stack_kib:,.0f} | "
            f"{idle.reconciles:,.0f} / {_by_method(idle.writes)} "
            f"(with no stack: {_by_method(idle.background)}) / **{idle.writes_per_reconcile:.2f}** | "
            f"{quantile_ms(0.5, None, r.created):,.0f} / {quantile_ms(0.99, None, r.created):,.0f} | "
            f"{quantile_ms(0.5, r.created, r.idle):,.1f} / {quantile_ms(0.99, r.created, r.idle):,.1f} | "
            f"{r.created.cpu - r.base.cpu:,.0f} / {idle_cpu:,.0f} ({idle_cpu / IDLE_WINDOW_SECONDS:.0%} of a "
            "core) |"
        )
    lines = [
        BEGIN,
        "## Operator on the local control plane (`make bench`, section `operator on the local control "
        "plane`)",
        "",
        f"One run of `BENCH_ONLY=operator make bench` (sizes {','.join(map(str, SIZES))}) on "
        f"{host['date']}: {host['cpu']}, {host['cores']} cores, {host['os']}, Python {host['python']}. "
        f"Every figure below comes from that one run, of the operator at {revision}.",
        "",
        f"Each row has two fresh local control planes (tools/python/kubelocal: etcd, kube-apiserver, "
        "controller-manager, scheduler and kwok, sharing the cores with the operator and kubectl), one "
        f"after the other, each with the kwok nodes the row's pod requests need (64 CPU, 512 GiB, 1,000 pods "
        f"each, {NODE_HEADROOM:.2f}x headroom). On the first, a fresh operator process "
        f"(`WEBSTACK_RESYNC_SECONDS={RESYNC_SECONDS}`, `WEBSTACK_CONCURRENCY={CONCURRENCY}`) gets N minimal "
        f"WebStacks (`spec.backend.image` only: {len(one_stack)} objects and {pods} pods each) in one "
        f"`kubectl apply`, {STACKS_PER_NAMESPACE} per namespace; *all Ready* runs from that apply until "
        "every stack's `status.phase` is Ready. On the second, `kubectl apply --server-side` writes the same "
        "objects (`webstack-operator render`) into the same namespaces: the writes alone (the floor any "
        "client pays), and until every Deployment and StatefulSet is available (the end state the "
        "operator's Ready stands for). So no row inherits another's stacks, operator process or etcd.",
        "",
        "| N | namespaces | kwok nodes | objects | operator: all Ready (s) | kubectl apply --server-side (s) "
        f"| ratio (goal ≤ {READY_RATIO_GOAL}x at 100 and 1,000) "
        "| kubectl apply until workloads available (s) | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        *timing,
        "",
        "The goal's ratio compares the operator's Ready with the writes alone: `kubectl apply` returns once "
        "the objects are stored, while Ready also waits for the controller-manager, scheduler and kwok to "
        "create, place and start every pod. The last ratio compares the same end state, so it is the "
        "operator's own overhead; the first is dominated by the pods' start when the writes are quick "
        "(small N) and by the writes when they are not (large N).",
        "",
        f"Operator process: RSS with 0 stacks (just started, synced) and with N (Ready, after a "
        f"{IDLE_WINDOW_SECONDS}s idle window); per stack = (RSS_N - RSS_0) / N. Idle: over those "
        f"{IDLE_WINDOW_SECONDS}s the resync reconciled every stack about "
        f"{IDLE_WINDOW_SECONDS // RESYNC_SECONDS} times; writes are `webstack_api_requests_total` "
        "for POST/PUT/PATCH/DELETE, reconciles `webstack_reconcile_total`; writes per reconcile leave out "
        "what the same operator wrote in an equal window before any stack existed (the leader's Lease "
        "renewals), give or take the one renewal a window may gain or lose. Latency: "
        "`webstack_reconcile_duration_seconds`, interpolated within buckets as PromQL's "
        "histogram_quantile, over the creation (start to Ready and quiet) and over the idle window.",
        "",
        "| N | RSS 0 stacks (MiB) | RSS at N (MiB; goal ≤ 150 MB = 143 MiB at 100, ≤ 400 MB = 381 MiB at "
        "1,000) | per stack (KiB) | idle: reconciles / writes by method / **writes per reconcile** "
        "(goal 0) | reconcile p50 / p99 creating (ms) | p50 / p99 idle (ms) | "
        "operator CPU-s creating / idle |",
        "|---:|---:|---:|---:|---|---:|---:|---|",
        *memory,
        "",
        *control_plane_lines(rows),
        *release_lines(rows),
        "Goals:",
        "",
        *goals(rows),
        *failure_lines(rows),
        "",
        context,
        END,
    ]
    return "\n".join(lines)


def control_plane_lines(rows: list[Row]) -> list[str]:
    names = sorted({name for r in rows for name in (*r.at_ready, *r.reference_at_available)})
    plane = [
        f"| {r.n:,} {side} | "
        + " | ".join(
            f"{_mib(figures[name][0])} / {figures[name][1]:,.0f}" if name in figures else "—"
            for name in names
        )
        + " |"
        for r in rows
        for side, figures in (("operator", r.at_ready), ("kubectl", r.reference_at_available))
        if figures
    ]
    if not plane:
        return []
    return [
        "Control plane when the row's end state was reached (operator: all Ready; kubectl: all workloads "
        "available), RSS MiB / CPU-seconds since its start:",
        "",
        "| N, cluster | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
        *plane,
        "",
    ]


def release_lines(rows: list[Row]) -> list[str]:
    row = next((r for r in rows if r.release is not None), None)
    if row is None or row.release is None:
        return []
    rel = row.release
    states = (
        ("before creation", rel.before),
        (f"holding {row.n:,}", rel.holding),
        ("WebStacks deleted", rel.stacks_deleted),
        ("retained objects deleted too", rel.retained_deleted),
    )
    return [
        f"Memory release, on the {row.n:,} row with the same operator process: `kubectl delete webstacks "
        "--all -A`, until no WebStack was left and the gauges had not moved for 20 s "
        f"({rel.stacks_seconds:,.0f}s, mostly the garbage collector deleting the children). The minimal "
        "spec keeps the default "
        "`database.deletionPolicy: Retain`, so each stack's Postgres volume and credentials Secret stay, "
        "and the cache keeps indexing that Secret under its stack; deleting those too (`kubectl delete "
        "secrets,persistentvolumeclaims -A -l app.kubernetes.io/managed-by=webstack-operator`) "
        + (
            f"brought the gauges back to their baseline in {rel.retained_seconds:,.0f}s."
            if rel.returned
            else f"did **not** bring the gauges back to their baseline within {rel.retained_seconds:,.0f}s."
        )
        + " Python keeps freed memory in its own allocator, so RSS is reported, not required to fall.",
        "",
        "| | " + " | ".join(name for name, _ in states) + " |",
        "|---|" + "---:|" * len(states),
        *(f"| `{g}` | " + " | ".join(f"{f.gauges[g]:,.0f}" for _, f in states) + " |" for g in GAUGES),
        "| RSS (MiB) | " + " | ".join(_mib(f.rss) for _, f in states) + " |",
        "",
    ]


def failure_lines(rows: list[Row]) -> list[str]:
    failed = [(r, e) for r in rows for e in r.errors]
    if not failed:
        return []
    return ["", "Where it broke:", "", *(f"- N={r.n:,}: {e}".replace("\n", " ") for r, e in failed)]


def record(section: str) -> None:
    """Replaces the operator section of docs/benchmarks.md (or appends it); other sections stay as is."""
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    if BEGIN in text:
        text = text[: text.index(BEGIN)] + section + text[text.index(END) + len(END) :]
    else:
        text = text.rstrip() + "\n\n" + section + "\n"
    DOC.write_text(text)

"""`make demo`, run as a user would (non-interactively): the UI works in a real browser, the stack is
Ready, drift is undone while the UI keeps working, Redis refuses a client without the password, its
Prometheus (scrape configs from the live ServiceMonitors, the live rules) stays silent under normal traffic
and alerts when Postgres is stopped, every dashboard panel has data, nothing of the demo is left after it
exits, and none of its logs holds a password it generated. One demo run serves the first three tests, and is
the first of the two runs in a row of the last.

Where the machine runs real pods (CI: WEBSTACK_REAL_NODE=1) the demo runs the stack on them, with the
operator installed in the cluster (localdemo.real_pods), and these tests check that too: every pod on the
real node, the time to the first user reported. The real-node suites' scheduler runs this file on their
worker, before them (tests/support/scheduling.py): the machine has one real node, and the demo starts its
own cluster."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.dashboard import panel_queries, rate_interval, seconds

from kubelocal import leaks
from kubelocal.process import dies_with_us, pdeathsig_prefix, pid_alive
from kubelocal.realnode.layout import NODE_NAME as REAL_NODE_NAME
from kubelocal.realnode.preflight import ENV as REAL_NODE_ENV
from kubelocal.target import KubeTarget
from kubelocal.wait import GiveUp, eventually
from localdemo.real_pods import post_user, status_of
from localservices import PrometheusClient, stack_monitoring
from webstack_contract.frontend import RESOLVE_EVERY_SECONDS

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
            preexec_fn=dies_with_us(),
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


@dataclass
class Demo:
    proc: subprocess.Popen[str]
    log: Path
    dir: Path
    state: dict[str, Any]

    def current_state(self) -> dict[str, Any]:
        """The state file as the demo last wrote it (it rewrites it when Postgres stops or starts)."""
        return dict(json.loads((self.dir / "state.json").read_text()))


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo run for the browser, monitoring and shutdown tests (it takes minutes to come up)."""
    tmp_path = tmp_path_factory.mktemp("demo")
    proc, log = _start_demo(tmp_path, exit_after=900)
    try:
        yield Demo(proc, log, tmp_path, _wait_ready(proc, log, tmp_path))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(120)


def _on_real_pods(state: dict[str, Any]) -> bool:
    """The demo says which way it ran; with WEBSTACK_REAL_NODE=1 it must have been on real pods."""
    if os.environ.get(REAL_NODE_ENV) == "1":
        assert state["mode"] == "real-pods", state
    return bool(state["mode"] == "real-pods")


def test_demo_end_to_end_in_a_browser(demo: Demo) -> None:
    from playwright.sync_api import expect, sync_playwright

    state, log, tmp_path = demo.state, demo.log, demo.dir
    text = log.read_text()
    assert "X-Cache: MISS" in text and "X-Cache: HIT" in text, text[-3000:]
    assert "PING without the password -> NOAUTH" in text, text[-3000:]
    assert "done in" in text  # a progress line per step, with its time
    if _on_real_pods(state):
        _check_real_pods(state, text)
    else:
        assert "no real node: " in text, "the fallback says in one line why there are no real pods"

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
        # It has another ClusterIP: nginx finds it once its cached address expires (webstack_contract's
        # resolver) and the cluster DNS's cache has let the old answer go (CoreDNS `cache 30`, EKS's and
        # the lab's), before the UI is reloaded (the UI does not retry a failed load).
        eventually(
            lambda: status_of(f"{state['url']}/api/users?limit=1"),
            until=lambda status: status == 200,
            timeout=RESOLVE_EVERY_SECONDS + CLUSTER_DNS_CACHE_SECONDS + 20,
            what="/api through nginx to the re-created backend Service",
        )
        page.reload()
        expect(page.locator("#users-table tbody tr", has_text=email)).to_be_visible(timeout=10_000)
        page.screenshot(path=str(tmp_path / "demo-ui-after-drift.png"), full_page=True)
        browser.close()
    with urllib.request.urlopen(state["operator_metrics"], timeout=5) as r:
        assert "webstack_drift_corrections_total" in r.read().decode()


def _check_real_pods(state: dict[str, Any], text: str) -> None:
    """Every pod of the stack and of the operator Running (the migration's Completed) on the real node, as
    `kubectl get pods -o wide` showed; the time to the first user reported with where it went."""
    for namespace in (state["namespace"], "webstack-system"):
        assert f"kubectl get pods -o wide -n {namespace}" in text, text[-3000:]
        pods = json.loads(_kubectl(state, "get", "pods", "-n", namespace, "-o", "json").stdout)["items"]
        assert pods, namespace
        for pod in pods:
            assert pod["spec"]["nodeName"] == REAL_NODE_NAME, pod["metadata"]["name"]
            assert pod["status"]["phase"] in ("Running", "Succeeded"), pod["status"]
            assert pod["metadata"]["name"] in text, f"{pod['metadata']['name']} in the demo's pod listing"
    operators = [line for line in text.splitlines() if line.startswith("webstack-operator-")]
    assert len(operators) == 2 and all(REAL_NODE_NAME in line for line in operators), operators
    figure = re.search(r"to the first user created through the frontend: ([0-9.]+) s", text)
    assert figure and float(figure.group(1)) > 0, text[-3000:]
    assert "each component Ready (its Job done): " in text and "migrate +" in text, text[-3000:]


CLUSTER_DNS_CACHE_SECONDS = 30


# The stack alerts that say "the API fails because its database is gone" (any one of them is enough).
OUTAGE_ALERTS = {"WebStackHighErrorRate", "WebStackBackendDown", "WebStackPostgresUnreachable"}
# Dashboard panels that can have no data during the demo's traffic, each with the reason. The failure and
# drift counters fall back to 0 (promql.or_zero), and the dashboard has no Velero or canary panel. A panel
# added for conditions the demo never produces goes here, named, with its reason; the test checks each name
# is a real panel.
NO_DATA_IN_THE_DEMO: dict[str, str] = {
    # A drill's RPO and RTO are measured, never a default: 0 would claim an instant restore.
    "Restore drills: RPO and RTO": "the demo runs no restore drill (its backup.dump is off): no series",
}
# Names in a panel query that are not scraped metric families: `up` is Prometheus's own per target.
SYNTHETIC_SERIES = {"up"}


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\\{", expr)) - SYNTHETIC_SERIES


def _family(metric: str) -> str:
    """The metadata name of a sample's family (OpenMetrics drops `_total`; histograms add suffixes)."""
    return re.sub(r"_(total|bucket|count|sum)$", "", metric)


def _scrape_intervals(prometheus: PrometheusClient) -> dict[str, str]:
    config = yaml.safe_load(prometheus.api("status/config")["yaml"])
    default = config["global"]["scrape_interval"]
    return {c["job_name"]: c.get("scrape_interval", default) for c in config["scrape_configs"]}


def _firing(prometheus: PrometheusClient, window: str | None = None) -> list[str]:
    """Alerts firing now, or at any evaluation within the last `window`."""
    alerts = 'ALERTS{alertstate="firing"}'
    expr = f"max_over_time({alerts}[{window}])" if window else alerts
    return sorted(r["metric"]["alertname"] for r in prometheus.query(expr))


def _uptime(prometheus: PrometheusClient) -> float:
    found = prometheus.query('time() - process_start_time_seconds{job="prometheus"}')
    return float(found[0]["value"][1]) if found else 0.0


def test_demo_prometheus_alerts_and_dashboard(demo: Demo) -> None:
    """The demo's Prometheus scrapes the users API pods' stand-ins and the operator with the labels the
    Prometheus Operator would give them and evaluates the live rules: silent under normal traffic, an
    outage alert once Postgres is stopped; every dashboard panel has data."""
    state = demo.state
    prometheus = PrometheusClient(state["prometheus"])
    assert f"Prometheus: {state['prometheus']}" in demo.log.read_text()
    cluster = KubeTarget(Path(state["kubeconfig"]))
    try:
        _check_monitoring(demo, prometheus, cluster)
    finally:
        cluster.close()


def _check_monitoring(demo: Demo, prometheus: PrometheusClient, cluster: KubeTarget) -> None:
    state = demo.state
    ns, name = state["namespace"], state["name"]

    # Every target the ServiceMonitors select is up, labelled as the Prometheus Operator labels a pod.
    pods = {p["metadata"]["name"] for p in stack_monitoring.live(cluster, "pods", "-n", ns)["items"]}

    def targets() -> list[dict[str, Any]]:
        return [t for t in prometheus.api("targets")["activeTargets"] if t["labels"]["job"] != "prometheus"]

    # The operator: the local process beside kwok, or every replica of its Deployment on real pods.
    operators = 2 if _on_real_pods(state) else 1
    up = eventually(
        targets,
        until=lambda ts: len(ts) == len(state["apis"]) + operators and all(t["health"] == "up" for t in ts),
        timeout=60,
        what="every demo target up",
    )
    backend = [t["labels"] for t in up if t["labels"]["job"] == f"{name}-backend-metrics"]
    assert len(backend) == len(state["apis"]) and {t["pod"] for t in backend} <= pods, up
    assert all(t["namespace"] == ns and t["container"] == "backend" for t in backend), up
    operator_namespaces = [
        t["labels"]["namespace"] for t in up if t["labels"]["job"] == "webstack-operator-metrics"
    ]
    assert operator_namespaces == ["webstack-system"] * operators, up

    # The live rules are loaded, and Prometheus evaluates them.
    groups = {g["name"]: g for g in prometheus.api("rules")["groups"]}
    stack_rule = stack_monitoring.live(cluster, "prometheusrule", f"{name}-alerts", "-n", ns)
    for group in stack_rule["spec"]["groups"]:
        assert [r["name"] for r in groups[group["name"]]["rules"]] == [r["alert"] for r in group["rules"]]
    assert "webstack-operator" in groups, sorted(groups)
    webstack = stack_monitoring.live(cluster, "webstack", name, "-n", ns)
    alert_for = webstack["spec"]["monitoring"]["alertFor"]["default"]
    durations = {r["for"] for g in stack_rule["spec"]["groups"] for r in g["rules"]}
    assert durations == {alert_for}, f"every `for:` is spec.monitoring.alertFor's default: {durations}"

    # Normal traffic: once the `for:` windows could have passed, no alert fires at any evaluation of a
    # whole minute (one a second), and every rule evaluates without error.
    quiet_window = 60
    settle = seconds(alert_for) + quiet_window
    eventually(
        lambda: _uptime(prometheus),
        until=lambda t: t >= settle,
        timeout=settle + 60,
        what="Prometheus uptime",
    )
    assert _firing(prometheus, f"{quiet_window}s") == [], prometheus.alerts()
    evaluated = [r for g in prometheus.api("rules")["groups"] for r in g["rules"]]
    assert {r["health"] for r in evaluated} == {"ok"}, [r for r in evaluated if r["health"] != "ok"]

    # Every panel's query, as Grafana would send it, returns data, and only from metrics that exist.
    board = stack_monitoring.dashboard(cluster, ns, name)
    window = rate_interval(list(_scrape_intervals(prometheus).values()))
    queries = panel_queries(board, rate_window=window)
    assert set(NO_DATA_IN_THE_DEMO) <= {q.panel for q in queries}, NO_DATA_IN_THE_DEMO
    for query in queries:
        if query.panel in NO_DATA_IN_THE_DEMO:
            continue
        assert prometheus.query(query.expr), f"no data for {query}"
        for metric in _metric_names(query.expr):
            known = prometheus.api("metadata", metric=_family(metric)) or prometheus.api(
                "metadata", metric=metric
            )
            assert known, f"{query}: no target exposes {metric}"

    # Postgres stopped (SIGUSR1 to the demo): an outage alert of this stack fires; then Postgres is back.
    # On real pods the demo scales the operator to 0 first, then Postgres, and back: pods take longer.
    switch_within = 120 if _on_real_pods(state) else 30
    demo.proc.send_signal(signal.SIGUSR1)
    try:
        eventually(
            demo.current_state,
            until=lambda s: not s["postgres_running"],
            timeout=switch_within,
            what="Postgres stopped",
        )
        fired = eventually(
            lambda: prometheus.query(f'ALERTS{{alertstate="firing",webstack="{name}"}}'),
            until=lambda alerts: {a["metric"]["alertname"] for a in alerts} & OUTAGE_ALERTS,
            timeout=180,
            what=f"one of {sorted(OUTAGE_ALERTS)} firing",
        )
        print("firing with Postgres stopped:", sorted(a["metric"]["alertname"] for a in fired))
    finally:
        demo.proc.send_signal(signal.SIGUSR2)
    eventually(
        demo.current_state,
        until=lambda s: s["postgres_running"],
        timeout=switch_within * 2,
        what="Postgres started",
    )
    created = eventually(
        lambda: post_user(state["api"], f"back-{uuid.uuid4().hex[:6]}@example.com"),
        until=lambda status: status == 201,
        timeout=30,
        what="a write after",
    )
    assert created == 201


def _stop(demo: Demo) -> None:
    """Ctrl-C (unless it has exited already): exit status 0, and no process of the demo left."""
    if demo.proc.poll() is None:
        demo.proc.send_signal(signal.SIGINT)
    rc = demo.proc.wait(120)
    assert rc == 0, demo.log.read_text()[-3000:]
    state = demo.current_state()
    eventually(
        lambda: [p for p in state["pids"] if pid_alive(p)],
        until=lambda alive: not alive,
        timeout=15,
        what="no demo process left behind",
    )


REAL_POD_CONTAINERS = ("backend", "frontend", "migrate", "postgres", "credentials-sync", "redis", "operator")


def test_demo_stops_cleanly_and_leaks_no_password(demo: Demo) -> None:
    """Ctrl-C: exit status 0, no process of the demo left, no password it generated in any log."""
    _stop(demo)
    tmp_path = demo.dir
    passwords = leaks.noted_secrets(tmp_path / "leaks")
    for password in passwords:
        leaks.note_secret(password)  # the session's final search looks for them too
    files = leaks.files_under(tmp_path)
    assert len(passwords) >= 2, "the database's and the cache's, generated by the operator in the cluster"
    kept = {f.name.rsplit("-", 1)[0] for f in files}
    assert {"kube-apiserver", "prometheus"} <= kept, sorted(kept)
    if demo.state["mode"] == "real-pods":
        # Every container's log, kept before its pod went: the stack's, the sidecar's, the operator's.
        for container in REAL_POD_CONTAINERS:
            assert any(name.endswith(f"-{container}") for name in kept), (container, sorted(kept))
    else:
        assert {"operator", "redis", "users-api"} <= kept, sorted(kept)
    found = leaks.find_leaks(files, passwords)
    assert not found, "\n".join(map(str, found))


def test_demo_runs_twice_in_a_row(demo: Demo, tmp_path: Path) -> None:
    """The module's run (stopped with Ctrl-C, unless that was done already), then another from scratch that
    exits by itself (DEMO_EXIT_AFTER): a run leaves nothing behind that keeps the next one from starting or
    stopping. Run alone, this test still runs the demo twice: the fixture starts the first."""
    _stop(demo)
    proc, log = _start_demo(tmp_path, exit_after=1)
    state = _wait_ready(proc, log, tmp_path)
    assert proc.wait(180) == 0, log.read_text()[-3000:]
    assert not [p for p in state["pids"] if pid_alive(p)]

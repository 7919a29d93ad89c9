"""The operator against an API server that misbehaves on purpose, through the fault proxy (faultproxy).

The operator reaches the cluster only through the proxy, with an ordinary kubeconfig (a ServiceAccount
token bound to cluster-admin, so this runs on any cluster); the tests themselves go direct, so they can
change and observe the cluster while the operator's path is broken. The shared operator is stopped for
this module: one leader at a time.
"""

from __future__ import annotations

import itertools
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, condition, events, get_json, wait_phase

from faultproxy import FaultProxy
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from webstack_operator.observe.watch import retry_delay

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
MINIMAL: dict[str, Any] = {"backend": {"image": IMAGE}, "monitoring": {"enabled": False}}
CANARY: dict[str, Any] = {
    **MINIMAL,
    "backend": {
        "image": IMAGE,
        "delivery": {"strategy": "Canary", "steps": [{"setWeight": 25}, {"pause": {}}]},
    },
}
ACCOUNT = ("default", "webstack-faults")
RESYNC_SECONDS = 20
WRITES = ("POST", "PUT", "PATCH", "DELETE")
# The reconciler's client; the leader election has its own (".../leader-election"), kopf says "kopf/...".
OUR_CLIENT = r"^webstack-operator/[^/]+$"
CHILD_KINDS = ",".join(
    ("serviceaccounts", "secrets", "configmaps", "services", "deployments", "statefulsets", "networkpolicies")
)


@dataclass
class Proxied:
    cluster: KubeTarget
    proxy: FaultProxy
    operator: OperatorProcess

    def namespace(self) -> str:
        name = f"faults-{uuid.uuid4().hex[:6]}"
        self.cluster.kubectl("create", "namespace", name)
        return name


@pytest.fixture(scope="module")
def proxied(
    platform: KubeTarget, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Proxied]:
    workdir = tmp_path_factory.mktemp("faults")
    server, ca, token = platform.bearer_access(*ACCOUNT, workdir)
    operator.stop()
    try:
        with FaultProxy(server, ca) as proxy:
            env = {
                "WEBSTACK_DISCOVERY_SECONDS": "2",
                "WEBSTACK_RESYNC_SECONDS": str(RESYNC_SECONDS),
                # a fresh Lease: the stopped shared operator's may still look alive for a while
                "WEBSTACK_LEASE_NAME": f"webstack-faults-{uuid.uuid4().hex[:6]}",
            }
            proc = OperatorProcess(proxy.kubeconfig(token, workdir / "proxied.kubeconfig"), workdir, env=env)
            proc.start()
            eventually(
                lambda: proc.metric("webstack_leader"), timeout=60, what="the proxied operator leading"
            )
            try:
                yield Proxied(platform, proxy, proc)
            finally:
                proc.stop()
    finally:
        operator.start()


@pytest.fixture(autouse=True)
def no_faults_left(proxied: Proxied) -> Iterator[None]:
    yield
    proxied.proxy.clear()


def _ready(p: Proxied, ns: str, name: str, spec: dict[str, Any], timeout: float = 120) -> dict[str, Any]:
    apply_webstack(p.cluster, ns, name, spec)
    return wait_phase(p.cluster, ns, name, timeout=timeout)


def _exists(cluster: KubeTarget, resource: str, name: str, ns: str) -> bool:
    return cluster.kubectl("get", resource, name, "-n", ns, check=False).returncode == 0


def _error_lines(operator: OperatorProcess, since: int) -> list[str]:
    lines = operator.log_path.read_text(errors="replace").splitlines()[since:]
    return [line for line in lines if '"level":"error"' in line or '"level": "error"' in line]


def _log_length(operator: OperatorProcess) -> int:
    return len(operator.log_path.read_text(errors="replace").splitlines())


def test_a_discovery_blip_never_swaps_a_canary_rollout_for_a_deployment(proxied: Proxied) -> None:
    cluster, ns = proxied.cluster, proxied.namespace()
    _ready(proxied, ns, "shop", CANARY)
    assert get_json(cluster, "rollouts.argoproj.io", "shop-backend", "-n", ns)
    # Aggregated discovery (/apis, every group at once) down for ~7 discoveries; and, for a server that
    # offers none, the group version's own document.
    proxied.proxy.fail(503, method="GET", path=r"/apis/?$", for_seconds=15)
    proxied.proxy.fail_discovery("argoproj.io", "v1alpha1", for_seconds=15)
    deadline = time.monotonic() + 17
    while time.monotonic() < deadline:  # an observation window: the stack must hold, not converge
        assert not _exists(cluster, "deployment", "shop-backend", ns), "a Deployment replaced the Rollout"
        assert _exists(cluster, "service", "shop-backend-canary", ns), "the canary Service was pruned"
        time.sleep(0.5)
    assert proxied.proxy.requests(path_re=r"^/apis/?$", user_agent_re=OUR_CLIENT, fault="status-503")
    ws = wait_phase(cluster, ns, "shop")
    assert condition(ws, "CanaryProgressing")["reason"] != "ArgoRolloutsNotInstalled"


@pytest.mark.parametrize("how", ["cut", "gone", "expired"])
def test_a_broken_watch_resumes_and_a_child_deleted_meanwhile_is_restored(proxied: Proxied, how: str) -> None:
    cluster, ns = proxied.cluster, proxied.namespace()
    _ready(proxied, ns, "shop", MINIMAL)
    services = r"^/api/v1/services$"
    # Service watches fail for a while; the open one is cut now (a short outage cuts every stream).
    down = proxied.proxy.reset(method="GET", path=services, query="watch", for_seconds=8)
    proxied.proxy.unreachable(0.3)
    if how == "gone":
        proxied.proxy.watch_gone(path=services)
    elif how == "expired":
        proxied.proxy.watch_expired(path=services)
    cluster.kubectl("delete", "service", "shop-backend", "-n", ns)
    eventually(
        lambda: get_json(cluster, "service", "shop-backend", "-n", ns),
        timeout=60,
        what=f"shop-backend restored after the watch was {how}",
    )
    assert down.hits > 0, "the watch outage was never exercised"
    drift = ("DriftCorrected", "Service shop-backend was deleted; recreated it")
    eventually(  # the Event is posted just after the write that restored the Service
        lambda: [(e["reason"], e["message"]) for e in events(cluster, ns, "shop")],
        until=lambda reasons: drift in reasons,
        timeout=15,
        what="the DriftCorrected Event",
    )


def test_a_429_storm_is_retried_with_backoff_reported_once_and_recovers(proxied: Proxied) -> None:
    cluster, ns = proxied.cluster, proxied.namespace()
    since = _log_length(proxied.operator)
    # Every write of a child (not the WebStack's own status, where the failure must be able to show)
    writes = rf"^/apis?/(?!webstack\.dev/).*/namespaces/{ns}/"
    storm = proxied.proxy.fail(429, method="PATCH", path=writes, retry_after=2, for_seconds=30)
    apply_webstack(cluster, ns, "shop", MINIMAL)

    def failing() -> dict[str, Any]:
        return condition(get_json(cluster, "webstack", "shop", "-n", ns), "Reconciled")

    reconciled = eventually(
        failing, until=lambda c: c.get("reason") == "ApiError", timeout=40, what="the failure in status"
    )
    assert "429" in reconciled["message"], reconciled
    ws = wait_phase(cluster, ns, "shop", timeout=120)  # after the storm
    assert ws["status"]["phase"] == "Ready"
    warnings = [e for e in events(cluster, ns, "shop") if e["reason"] == "ReconcileFailed"]
    assert len(warnings) == 1, warnings
    refused = [r for r in proxied.proxy.requests(method="PATCH", path_re=writes) if r.fault == "status-429"]
    assert storm.hits == len(refused) > 0
    times = sorted(r.at for r in refused)
    assert len(times) <= 15, f"{len(times)} refused writes in 30 s: not backing off"
    gaps = [b - a for a, b in itertools.pairwise(times)]
    assert all(gap >= 1.9 for gap in gaps), f"Retry-After (2 s) not honoured: {gaps}"
    assert not _error_lines(proxied.operator, since), "an ERROR log line per retry"


# A request of another stack already on its way when the 429 reached the client may arrive just after it;
# one of this stack's cannot (its reconcile is one sequence: what follows the refused write waits for it).
IN_FLIGHT_GRACE = 0.25


def test_after_a_429_nothing_is_sent_before_retry_after_and_no_error_line_per_retry(
    proxied: Proxied,
) -> None:
    cluster, ns = proxied.cluster, proxied.namespace()
    _ready(proxied, ns, "warm", MINIMAL)  # the operator reconciles by now (its first sync is behind it)
    since = _log_length(proxied.operator)
    # Every PATCH in the namespace: the children, the WebStack's status, and kopf's own finalizer patch.
    patches = rf"^/apis?/.*/namespaces/{ns}/"
    storm = proxied.proxy.fail(429, method="PATCH", path=patches, retry_after=2, for_seconds=20)
    apply_webstack(cluster, ns, "shop", MINIMAL)
    over = "the storm over"
    eventually(lambda: storm.active(time.monotonic()), until=lambda a: not a, timeout=30, what=over)
    wait_phase(cluster, ns, "shop", timeout=120)
    ours = proxied.proxy.requests(user_agent_re=OUR_CLIENT)
    refused = [r for r in ours if r.fault == "status-429"]
    assert len(refused) >= 2, "the storm never throttled the operator's own client"
    too_soon = [
        (f"{r.method} {r.path}", f"{q.method} {q.path}", round(q.at - r.at, 3))
        for r in refused
        for q in ours
        if r.at < q.at < r.at + 2 and (f"/namespaces/{ns}/" in q.path or q.at > r.at + IN_FLIGHT_GRACE)
    ]
    assert not too_soon, f"sent before the Retry-After (2 s) had passed: {too_soon}"
    assert proxied.proxy.requests(user_agent_re=r"^kopf/", fault="status-429"), "kopf's retries not exercised"
    assert not _error_lines(proxied.operator, since), "an ERROR log line per retry"


def test_discovery_is_aggregated_two_requests_not_one_per_group_version(proxied: Proxied) -> None:
    """The local apiserver serves apidiscovery.k8s.io/v2: each discovery (every 2 s here) is /api and /apis,
    never the dozens of /apis/<group>/<version> documents."""
    start = time.time()

    def discoveries() -> list[Any]:
        return [
            r for r in proxied.proxy.requests(path_re=r"^/apis/?$", user_agent_re=OUR_CLIENT) if r.at > start
        ]

    eventually(discoveries, until=lambda found: len(found) >= 3, timeout=30, what="three discoveries")
    per_group = r"^/apis/[^/]+/[^/]+/?$"  # a group version's own document (lists and objects are longer)
    asked = [
        r.path for r in proxied.proxy.requests(path_re=per_group, user_agent_re=OUR_CLIENT) if r.at > start
    ]
    assert not asked, f"discovery asked per group version: {sorted(set(asked))}"


def test_lists_are_read_in_pages(proxied: Proxied) -> None:
    """Every list the operator's client made (the watches' first lists, at start) asked for a page size."""
    lists = [
        r
        for r in proxied.proxy.requests(method="GET", user_agent_re=OUR_CLIENT, query_re=r"Selector=")
        if not re.search(r"(^|&)watch=", r.query)
    ]
    assert lists, "no list seen"
    unpaged = sorted({r.path for r in lists if not re.search(r"(^|&)limit=\d+", r.query)})
    assert not unpaged, f"lists without a limit: {unpaged}"


def test_the_api_server_unreachable_for_a_minute_then_back_converges(proxied: Proxied) -> None:
    cluster, ns = proxied.cluster, proxied.namespace()
    for name in ("s0", "s1", "s2"):
        apply_webstack(cluster, ns, name, MINIMAL)
    for name in ("s0", "s1", "s2"):
        wait_phase(cluster, ns, name)
    outage = proxied.proxy.unreachable(60)
    # Meanwhile (the tests go direct): a new image, a deleted child, a new stack.
    apply_webstack(
        cluster, ns, "s0", {**MINIMAL, "backend": {"image": "ghcr.io/webstack-dev/users-api:0.3.0"}}
    )
    cluster.kubectl("delete", "service", "s1-backend", "-n", ns)
    apply_webstack(cluster, ns, "s3", MINIMAL)
    eventually(lambda: not outage.active(time.monotonic()), timeout=75, interval=1, what="the outage over")
    back = time.monotonic()
    for name in ("s0", "s1", "s2", "s3"):
        eventually(
            lambda name=name: get_json(cluster, "webstack", name, "-n", ns),  # type: ignore[misc]
            until=lambda ws: (
                (ws.get("status") or {}).get("phase") == "Ready"
                and ws["status"].get("observedGeneration") == ws["metadata"]["generation"]
            ),
            timeout=180,
            interval=1,
            what=f"{name} converged on its latest spec",
        )
    eventually(
        lambda: get_json(cluster, "service", "s1-backend", "-n", ns), timeout=60, what="s1-backend back"
    )
    print(f"\nrecovery after a 60 s outage: every stack converged {time.monotonic() - back:.1f} s after")
    image = get_json(cluster, "deployment", "s0-backend", "-n", ns)["spec"]["template"]["spec"]
    assert image["containers"][0]["image"].endswith(":0.3.0")
    # No duplicates and nothing missing: every stack has the same children, by kind and suffix.
    items = get_json(cluster, CHILD_KINDS, "-n", ns, "-l", "app.kubernetes.io/managed-by=webstack-operator")[
        "items"
    ]
    by_stack: dict[str, set[tuple[str, str]]] = {}
    for item in items:
        stack, _, suffix = item["metadata"]["name"].partition("-")
        by_stack.setdefault(stack, set()).add((item["kind"], suffix))
    assert sorted(by_stack) == ["s0", "s1", "s2", "s3"], sorted(by_stack)
    assert all(children == by_stack["s0"] for children in by_stack.values()), by_stack
    assert proxied.operator.process is not None and proxied.operator.process.poll() is None
    assert proxied.operator.metric("webstack_leader") == 1  # it lost the Lease, stood by, and took it back


def test_a_stack_deleted_while_its_schedule_is_being_applied_leaves_no_schedule(proxied: Proxied) -> None:
    """The finalizer waits for the reconcile in flight: a Schedule write that was on its way when the stack
    was deleted cannot land after the finalizer deleted the Schedule (an orphan backing up nothing)."""
    cluster, ns = proxied.cluster, proxied.namespace()
    spec = {**MINIMAL, "backup": {"enabled": True, "schedule": "0 3 * * *"}}
    _ready(proxied, ns, "shop", spec)
    selector = f"app.kubernetes.io/instance=shop,webstack.dev/stack-namespace={ns}"

    def schedules() -> list[dict[str, Any]]:
        return list(get_json(cluster, "schedules.velero.io", "-n", "velero", "-l", selector)["items"])

    assert len(schedules()) == 1
    # The Schedule's writes take 5 s each on their way (the apiserver is slow), while the stack is deleted.
    slow = proxied.proxy.stall(5, method="PATCH", path=r"^/apis/velero\.io/v1/namespaces/velero/schedules/")
    apply_webstack(cluster, ns, "shop", {**spec, "backup": {"enabled": True, "schedule": "0 4 * * *"}})
    eventually(lambda: slow.hits, timeout=30, interval=0.05, what="a Schedule write on its way")
    cluster.kubectl("delete", "webstack", "shop", "-n", ns, "--wait=false")
    eventually(
        lambda: cluster.kubectl("get", "webstack", "shop", "-n", ns, check=False).returncode,
        until=lambda code: code != 0,
        timeout=60,
        what="the WebStack gone (its finalizer done)",
    )
    # Every write that was on its way has landed (or failed) by now: the stalls are 5 s, the client's 30 s.
    writes = proxied.proxy.requests(method="PATCH", path_re=r"^/apis/velero\.io/")
    eventually(
        lambda: all(r.done for r in proxied.proxy.requests(method="PATCH", path_re=r"^/apis/velero\.io/")),
        timeout=40,
        what="the Schedule writes answered",
    )
    assert writes, "no Schedule write was on its way"
    assert schedules() == [], "an orphan Schedule backs up a deleted stack"


def dead_watch_outage(stale_after: float, margin: float = 3.0) -> float:
    """How long to break a watch: it must fail for over `stale_after` s (then /healthz says 503) and stay
    stale a while (2 * `margin` s at least: /healthz is polled each second), and the outage ends `margin` s
    before one of the watch's retries falls due (1, 3, 7, 15, 31, 61 s after its first failure, from
    `retry_delay`), so that retry finds it working: /healthz is 200 again `margin` s after the outage, not up
    to a whole backoff (30 s) later."""
    due, failures = 0.0, 0
    while due < stale_after + 2 * margin:
        failures += 1
        due += retry_delay(failures)
    return due - margin


def test_healthz_is_unhealthy_while_a_child_watch_stays_dead(proxied: Proxied) -> None:
    import urllib.error
    import urllib.request

    url = f"http://127.0.0.1:{proxied.operator.liveness_port}/healthz"

    def health() -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    assert health()[0] == 200
    outage = dead_watch_outage(RESYNC_SECONDS)
    proxied.proxy.reset(method="GET", path=r"^/api/v1/configmaps$", for_seconds=outage)
    proxied.proxy.unreachable(0.3)  # cut the open watch; its reconnects now fail
    _, body = eventually(
        health, until=lambda h: h[0] == 503, timeout=RESYNC_SECONDS + 12, interval=1, what="/healthz 503"
    )
    assert any("ConfigMap" in p for p in body["problems"]), body
    eventually(health, until=lambda h: h[0] == 200, timeout=60, interval=1, what="/healthz 200 again")


def test_a_leader_killed_mid_reconcile_is_replaced_and_no_object_is_written_by_both(
    proxied: Proxied, tmp_path: Path
) -> None:
    """Two replicas through one proxy: the request log names each write's process (its User-Agent carries
    the replica's identity), so it shows the old leader's writes all end before the new leader's begin."""
    cluster, ns, proxy = proxied.cluster, proxied.namespace(), proxied.proxy
    old = proxied.operator
    standby = OperatorProcess(old.kubeconfig, tmp_path, env={**old.extra_env, "HOSTNAME": "replica-b"})
    standby.start()
    try:
        assert standby.metric("webstack_leader") == 0
        names = [f"s{i}" for i in range(5)]
        for name in names:
            apply_webstack(cluster, ns, name, MINIMAL)
        eventually(  # the reconciler's own first write of a child (kopf patches the WebStack earlier)
            lambda: [
                r
                for r in proxy.requests(
                    method="PATCH", path_re=rf"^/apis?/(?!webstack\.dev/).*/namespaces/{ns}/"
                )
                if r.user_agent.startswith("webstack-operator/")
            ],
            timeout=60,
            interval=0.05,
            what="the leader writing the first children",
        )
        old.kill()  # SIGKILL, mid-reconcile
        killed = time.time()
        eventually(lambda: standby.metric("webstack_leader"), timeout=25, what="the standby leading")
        for name in names:
            wait_phase(cluster, ns, name, timeout=120)
        writes = [
            r
            for r in proxy.requests(path_re=rf"^/apis?/(?!coordination).*/namespaces/{ns}/")
            if r.method in ("POST", "PUT", "PATCH", "DELETE")
            and r.user_agent.startswith("webstack-operator/")
        ]
        by_new = [r for r in writes if r.user_agent.startswith("webstack-operator/replica-b_")]
        by_old = [r for r in writes if r not in by_new]
        assert by_old, "the killed leader wrote nothing: not killed mid-reconcile"
        assert by_new, "the new leader finished nothing"
        assert max(r.at for r in by_old) <= killed < min(r.at for r in by_new), "both wrote at once"
        for name in names:  # one field manager on every child, and no conflicting one
            deployment = get_json(cluster, "deployment", f"{name}-backend", "-n", ns, "--show-managed-fields")
            managers = {m["manager"] for m in deployment["metadata"]["managedFields"]}
            assert "webstack-operator" in managers, managers
    finally:
        standby.stop()
        old.start()
        eventually(lambda: old.metric("webstack_leader"), timeout=60, what="the module's operator leading")

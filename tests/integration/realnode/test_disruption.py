"""Disruption on real pods, under a bounded load of reads and writes through the frontend's nginx (the
ClusterIP kube-proxy routes from the host): a backend pod deleted, the Postgres pod deleted, Redis
restarted. Each waits on conditions (pods Ready, requests answered after), never on time, and reports what
clients saw: the failures, the longest outage, and whether every acknowledged write survived.

The stack is the package's demo stack (conftest.py), reconciled onto the real node by the installed
operator; the figures are in docs/benchmarks.md ("Real pods"). On another cluster the load goes through a
port-forward to the frontend (tests/support/reach.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from tests.support.incluster import InCluster
from tests.support.load import Load, Summary
from tests.support.operator import get_json
from tests.support.reach import service_url
from tests.support.realnode_stack import is_ready

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

# What the docs promise (docs/ops/upgrade.md, "What clients and the operator see when pods go"): a deleted
# backend pod fails no request. The kubelet's preStop sleep keeps it serving while it leaves the Service's
# endpoints, then uvicorn finishes what is in flight within the grace period.
BACKEND_POD_LOSS_FAILED_REQUESTS = 0
# Answers after a disruption that show the stack serves again, not only that one request got through.
ANSWERED_AFTER = 20


@pytest.fixture(scope="module")
def frontend(installed: InCluster, demo: dict[str, Any]) -> Iterator[str]:
    """The frontend's URL from the host: its ClusterIP in the lab, a port-forward elsewhere."""
    namespace, name = demo["metadata"]["namespace"], demo["metadata"]["name"]
    with service_url(installed.cluster, namespace, f"{name}-frontend") as url:
        yield url


def _pods(cluster: KubeTarget, demo: dict[str, Any], component: str) -> list[dict[str, Any]]:
    name, namespace = demo["metadata"]["name"], demo["metadata"]["namespace"]
    selector = f"app.kubernetes.io/instance={name},app.kubernetes.io/component={component}"
    items: list[dict[str, Any]] = get_json(cluster, "pods", "-n", namespace, "-l", selector)["items"]
    return items


def _answered_since(load: Load, since: float) -> int:
    return sum(1 for r in load.records() if r.ok and r.started >= since)


def _disrupt(
    load: Load, delete: Callable[[], None], back: Callable[[], bool], what: str
) -> tuple[float, float]:
    """Waits for the load to be answered, disrupts, waits until `back` and then for answers again;
    returns (seconds until back, seconds until answered again)."""
    eventually(lambda: _answered_since(load, 0), until=lambda n: n >= ANSWERED_AFTER, timeout=60, what="load")
    started = time.monotonic()
    delete()
    eventually(back, until=bool, timeout=180, interval=0.5, what=what)
    returned = time.monotonic()
    eventually(
        lambda: _answered_since(load, returned),
        until=lambda n: n >= ANSWERED_AFTER,
        timeout=60,
        what=f"answers after {what}",
    )
    return returned - started, time.monotonic() - started


def _report(what: str, summary: Summary, back: float) -> None:
    failures = [(round(r.started, 2), r.operation, r.outcome) for r in summary.failures]
    print(
        f"[figures] {what}: back in {back:.1f}s; {len(summary.records)} requests, "
        f"{len(summary.failures)} failed over {summary.failure_span_seconds:.2f}s "
        f"(longest run {summary.outage_seconds:.2f}s); {summary.counts}; "
        f"failures {failures[:12]}"
    )


def _still_there(installed: InCluster, demo: dict[str, Any], summary: Summary) -> None:
    """Every acknowledged user, read from Postgres itself (the cache could hide a lost row)."""
    assert summary.acknowledged, "no write was acknowledged: the test proved nothing"
    namespace, name = demo["metadata"]["namespace"], demo["metadata"]["name"]
    ids = ",".join(str(u.id) for u in summary.acknowledged)
    query = f"SELECT id, email FROM users WHERE id IN ({ids})"
    rows = installed.cluster.kubectl(
        "-n", namespace, "exec", f"{name}-postgres-0", "-c", "postgres", "--",
        "psql", "-U", "webstack", "-d", "webstack", "-tAc", query,
    ).stdout  # fmt: skip
    stored = {(int(i), e) for i, e in (line.split("|") for line in rows.split())}
    assert stored == {(u.id, u.email) for u in summary.acknowledged}


def test_backend_pod_deleted_under_load_fails_no_request(
    installed: InCluster, demo: dict[str, Any], frontend: str
) -> None:
    cluster, namespace = installed.cluster, demo["metadata"]["namespace"]
    before = {p["metadata"]["name"] for p in _pods(cluster, demo, "backend")}
    [victim, *_] = sorted(before)

    def replaced() -> bool:
        pods = [p for p in _pods(cluster, demo, "backend") if not p["metadata"].get("deletionTimestamp")]
        names = {p["metadata"]["name"] for p in pods}
        return victim not in names and len(pods) == len(before) and all(is_ready(p) for p in pods)

    with Load(frontend, clients=4, rate=20, duration=240) as load:
        back, _ = _disrupt(
            load,
            lambda: cluster.kubectl("-n", namespace, "delete", "pod", victim, "--wait=false"),
            replaced,
            f"{victim} replaced by a Ready pod",
        )
    _report("backend pod deleted", load.summary, back)
    assert len(load.summary.failures) <= BACKEND_POD_LOSS_FAILED_REQUESTS, load.summary.failures
    _still_there(installed, demo, load.summary)


def _only_pod_deleted(
    cluster: KubeTarget, demo: dict[str, Any], component: str, load: Load
) -> tuple[dict[str, Any], float, float]:
    """Deletes the component's one pod under the load; returns it, and the seconds until its replacement
    was Ready and until the load was answered again (`_disrupt`)."""
    [before] = _pods(cluster, demo, component)
    namespace, uid = demo["metadata"]["namespace"], before["metadata"]["uid"]

    def back() -> bool:
        pods = [p for p in _pods(cluster, demo, component) if not p["metadata"].get("deletionTimestamp")]
        return [p["metadata"]["uid"] != uid and is_ready(p) for p in pods] == [True]

    returned, answered = _disrupt(
        load,
        lambda: cluster.kubectl("-n", namespace, "delete", "pod", before["metadata"]["name"], "--wait=false"),
        back,
        f"the {component} pod back and Ready",
    )
    return before, returned, answered


def test_postgres_pod_deleted_comes_back_on_its_volume_with_every_acknowledged_user(
    installed: InCluster, demo: dict[str, Any], frontend: str
) -> None:
    cluster, namespace = installed.cluster, demo["metadata"]["namespace"]
    claim_name = f"data-{demo['metadata']['name']}-postgres-0"
    volume = get_json(cluster, "pvc", claim_name, "-n", namespace)["spec"]["volumeName"]
    with Load(frontend, clients=2, rate=10, duration=240) as load:
        _, returned, answered = _only_pod_deleted(cluster, demo, "database", load)
    _report("Postgres pod deleted", load.summary, returned)
    print(f"[figures] Postgres pod deleted: the load answered again {answered:.1f}s after the deletion")
    # The same volume, not a new empty one.
    assert get_json(cluster, "pvc", claim_name, "-n", namespace)["spec"]["volumeName"] == volume
    _still_there(installed, demo, load.summary)


def test_redis_restarted_costs_only_cache_misses(
    installed: InCluster, demo: dict[str, Any], frontend: str
) -> None:
    url = frontend
    with Load(url, clients=2, rate=10, duration=240) as load:
        _, returned, _ = _only_pod_deleted(installed.cluster, demo, "cache", load)
    _report("Redis restarted", load.summary, returned)
    assert load.summary.failures == (), load.summary.failures
    # The cache serves again: a user read twice is a miss, then a hit.
    user = next(iter(load.summary.acknowledged))
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
        seen = eventually(
            lambda: [client.get(f"/api/users/{user.id}").headers.get("X-Cache") for _ in range(2)],
            until=lambda s: s[-1] == "HIT",
            timeout=60,
            what="a cache hit after Redis came back",
        )
    assert seen[-1] == "HIT"

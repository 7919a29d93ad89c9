"""A leader that loses its Lease to an API server brownout: it steps down healthy, and its writes are fenced.

Two replicas, each through its own fault proxy (tools/python/faultproxy), so each proxy's request log is one
replica's traffic: `replica-a` leads first and is the one whose path breaks; `replica-b`'s path stays clean.

- Stepped down, a replica is a healthy standby within seconds (its watches were closed on purpose, they are
  not dead ones) and keeps nothing of its term: no cached children, no stacks, nothing queued.
- Fenced writes: with every request slot of the old leader held by stalled writes (the replicas run with a
  few slots, `WEBSTACK_REQUEST_SLOTS`, so that a handful of drifted stacks fill them), a write that was
  waiting for a slot when its Lease ran out is not sent once a slot frees: the request log shows no write of
  the old leader after the new leader's first.

The shared operator is stopped for this module: it would reconcile these stacks too.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, get_json, wait_phase

from faultproxy import FaultProxy
from faultproxy.log import RequestRecord
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localservices.server import LOOPBACK
from webstack_operator.kube.lease import LeaseTiming

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
MINIMAL: dict[str, Any] = {"backend": {"image": IMAGE}, "monitoring": {"enabled": False}}
ACCOUNT = ("default", "webstack-lease-loss")
TIMING = LeaseTiming()
TAKEOVER_WITHIN = TIMING.duration + 2 * TIMING.retry + 10.0  # and a loaded 2-core machine
SLOTS = 4  # WEBSTACK_REQUEST_SLOTS: few, so that the stacks' stalled writes hold every one
STACKS = SLOTS + 2  # reconciling at once (WEBSTACK_CONCURRENCY, 8, may): two writes left waiting for a slot
HEALTHY_WITHIN = 5.0  # "within seconds" of stepping down
WRITES = ("POST", "PUT", "PATCH", "DELETE")
LEASES = r"^/apis/coordination\.k8s\.io/"


@dataclass
class Setup:
    cluster: KubeTarget
    server: str
    ca: Path | None
    token: str
    workdir: Path


class Replica(OperatorProcess):
    """An operator process whose Lease identity starts with `replica` (its HOSTNAME)."""

    def __init__(self, setup: Setup, replica: str, lease: tuple[str, str], proxy: FaultProxy) -> None:
        kubeconfig = proxy.kubeconfig(setup.token, setup.workdir / f"{replica}.kubeconfig")
        env = {
            "HOSTNAME": replica,
            "WEBSTACK_LEASE_NAMESPACE": lease[0],
            "WEBSTACK_LEASE_NAME": lease[1],
            "WEBSTACK_DISCOVERY_SECONDS": "2",
            "WEBSTACK_REQUEST_SLOTS": str(SLOTS),
        }
        super().__init__(kubeconfig, setup.workdir, env=env)
        self.replica = replica
        self.proxy = proxy

    def health(self) -> tuple[int, dict[str, Any]]:
        url = f"http://{LOOPBACK}:{self.liveness_port}/healthz"
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return int(r.status), dict(json.load(r))
        except urllib.error.HTTPError as e:  # 503: unhealthy, with the same body
            return e.code, dict(json.load(e))

    def writes(self, *, ours: bool = False) -> list[RequestRecord]:
        """What this replica's proxy saw it write (the election's own Lease requests aside); `ours`: only
        the operator's own client's (kopf's writes aside)."""
        return [
            r
            for r in self.proxy.requests()
            if r.method in WRITES
            and not re.match(LEASES, r.path)
            and (not ours or r.user_agent.startswith("webstack-operator/"))
        ]

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)


@pytest.fixture(scope="module")
def setup(
    platform: KubeTarget, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("lease-loss")
    server, ca, token = platform.bearer_access(*ACCOUNT, workdir)
    operator.stop()
    try:
        yield Setup(platform, server, ca, token, workdir)
    finally:
        operator.start()


@pytest.fixture
def pair(setup: Setup) -> Iterator[tuple[Replica, Replica]]:
    """replica-a leading, then replica-b standing by, over a Lease of their own; each through a proxy of
    its own, whose request log is then this test's traffic of that replica only."""
    lease = (f"lease-{uuid.uuid4().hex[:8]}", "webstack-operator")
    setup.cluster.kubectl("create", "namespace", lease[0])
    with contextlib.ExitStack() as proxies:
        a, b = (
            Replica(setup, name, lease, proxies.enter_context(FaultProxy(setup.server, setup.ca)))
            for name in ("replica-a", "replica-b")
        )
        yield from _leading_then_standing_by(setup, a, b, lease)


def _leading_then_standing_by(
    setup: Setup, a: Replica, b: Replica, lease: tuple[str, str]
) -> Iterator[tuple[Replica, Replica]]:
    try:
        a.start()
        eventually(lambda: a.metric("webstack_leader"), until=lambda v: v == 1, timeout=60, what="a leads")
        b.start()
        yield a, b
    finally:
        for r in (a, b):
            r.proxy.clear()
            if r.alive():
                r.send(signal.SIGCONT)  # a stopped process would hold its SIGTERM until the grace ends
            r.stop()
        setup.cluster.kubectl("delete", "namespace", lease[0], "--wait=false", check=False)


def test_a_leader_that_lost_the_lease_is_a_healthy_standby_within_seconds_holding_nothing(
    setup: Setup, pair: tuple[Replica, Replica], namespace: str
) -> None:
    a, b = pair
    cluster = setup.cluster
    apply_webstack(cluster, namespace, "shop", MINIMAL)
    wait_phase(cluster, namespace, "shop")
    assert a.metric("webstack_cached_children") > 0 and a.metric("webstack_stacks", phase="Ready") >= 1
    # The brownout: a's Lease requests fail; everything else of its traffic goes through.
    a.proxy.reset(path=LEASES, for_seconds=120)
    eventually(lambda: a.metric("webstack_leader"), until=lambda v: v == 0, timeout=40, what="a steps down")
    stepped_down = time.monotonic()
    _, body = eventually(
        a.health,
        until=lambda h: h[0] == 200 and h[1]["role"] == "standby",
        timeout=HEALTHY_WITHIN,
        interval=0.2,
        what="a healthy standby",
    )
    print(f"stepped down: healthy {time.monotonic() - stepped_down:.1f}s after webstack_leader went 0")
    assert body["problems"] == [] and body["warnings"] == [], body
    # Nothing of its term is held: the gauges read from the old controller, which is gone.
    held = {
        name: a.metric(name)
        for name in (
            "webstack_cached_children",
            "webstack_cache_stacks",
            "webstack_queue_depth",
            "webstack_stacks",
        )
    }
    assert held == dict.fromkeys(held, 0.0), held
    # And it stays so, as a standby whose Lease requests still fail, while b takes over.
    eventually(
        lambda: b.metric("webstack_leader"), until=lambda v: v == 1, timeout=TAKEOVER_WITHIN, what="b leads"
    )
    assert a.health() == (200, {**body, "role": "standby"})
    assert b.health()[0] == 200


def test_no_write_of_the_old_leader_leaves_after_the_new_leaders_first(
    setup: Setup, pair: tuple[Replica, Replica], namespace: str
) -> None:
    a, b = pair
    cluster = setup.cluster
    names = [f"s{i}" for i in range(STACKS)]
    for name in names:
        apply_webstack(cluster, namespace, name, MINIMAL)
    for name in names:
        wait_phase(cluster, namespace, name)
    # Nothing else in flight for a: a stack of an earlier test, whose namespace goes without waiting, is
    # finalized by whoever leads, and kopf's own finalizer patch is not this fence's (kopf's client).
    eventually(lambda: _going(cluster), until=lambda going: not going, timeout=90, what="no WebStack going")
    # The brownout: the writes into the stacks' namespace hang, each holding one of a's request slots until
    # the fault goes (long before a's client would give up on them after 30 s).
    hanging = a.proxy.stall(
        None, method="PATCH", path=rf"^/apis?/(?!webstack\.dev/).*/namespaces/{namespace}/"
    )

    def ours() -> int:
        return len(a.proxy.requests(method="PATCH", user_agent_re=r"^webstack-operator/"))

    # Drift in every stack: a's reconciles write (from the cache: no read first), SLOTS of them hang and hold
    # every slot; the rest wait for one (counted when asked for, before the wait; the proxy sees them once
    # sent). The scenario is reached, or the test fails here: nothing below means anything without it.
    asked, arrived = a.metric("webstack_api_requests_total", method="PATCH"), ours()
    replicas = get_json(cluster, "deployment", "s0-backend", "-n", namespace)["spec"]["replicas"]
    backends = [f"deployment/{name}-backend" for name in names]
    cluster.kubectl("scale", *backends, f"--replicas={replicas + 2}", "-n", namespace)
    eventually(
        lambda: (
            hanging.hits,
            a.metric("webstack_api_requests_total", method="PATCH") - asked,
            ours() - arrived,
        ),
        until=lambda n: n[0] >= SLOTS and n[1] - n[2] >= 1,
        timeout=60,
        what=f"every request slot of a held by a stalled write ({SLOTS}) and a write waiting for one",
    )
    # a is paused (a long GC pause, a frozen VM) while it waits: its Lease runs out; b takes over, writes.
    a.send(signal.SIGSTOP)
    eventually(
        lambda: b.metric("webstack_leader"), until=lambda v: v == 1, timeout=TAKEOVER_WITHIN, what="b leads"
    )
    eventually(b.writes, timeout=60, what="the new leader's first write")
    first_of_b = min(r.at for r in b.writes())
    # The brownout ends: the hanging requests are answered while a is still paused, so that its slots free
    # up the moment it resumes — as soon as its election can notice the lost Lease, or sooner: a write
    # waiting for a slot is then in a race with the step-down, which only the fence wins every time.
    a.proxy.remove(hanging)
    eventually(
        lambda: a.proxy.requests(fault=hanging.kind),
        until=lambda held: all(r.done for r in held),
        timeout=30,
        what="the hanging writes answered",
    )
    a.send(signal.SIGCONT)
    eventually(
        lambda: (a.metric("webstack_leader"), a.health()[1]["role"]),
        until=lambda state: state == (0, "standby"),
        timeout=30,
        what="a back to standby",
    )
    late = [(r.method, r.path, r.query, r.user_agent) for r in a.writes() if r.at > first_of_b]
    assert late == [], f"the old leader wrote after the new leader's first write: {late}"
    assert a.health()[0] == 200
    for name in names:  # the new leader corrected the drift
        eventually(
            lambda name=name: get_json(cluster, "deployment", f"{name}-backend", "-n", namespace),  # type: ignore[misc]
            until=lambda d: d["spec"]["replicas"] == replicas,
            timeout=60,
            what=f"{name}-backend scaled back by the new leader",
        )


def _going(cluster: KubeTarget) -> list[str]:
    """The WebStacks being deleted, or about to be: in a namespace that is terminating."""
    terminating = {
        n["metadata"]["name"]
        for n in get_json(cluster, "namespaces")["items"]
        if (n.get("status") or {}).get("phase") == "Terminating"
    }
    return [
        f"{ws['metadata']['namespace']}/{ws['metadata']['name']}"
        for ws in get_json(cluster, "webstacks", "--all-namespaces")["items"]
        if ws["metadata"].get("deletionTimestamp") or ws["metadata"]["namespace"] in terminating
    ]

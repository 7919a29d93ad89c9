"""Leader election for real: two operator processes on one cluster, racing for one Lease.

- Exactly one leads (its /healthz says so, its `webstack_leader` is 1, the Lease names it); the other stands
  by and sends no write at all.
- A leader stopped as the kubelet stops it (SIGTERM) exits cleanly and releases the Lease: the standby takes
  over at its next look, not after the lease expires.
- A leader killed with SIGKILL in the middle of reconciling is replaced within the lease duration, and the
  new leader brings every stack to Ready.
- A leader that stops renewing (SIGSTOP) is replaced; resumed (SIGCONT), it writes nothing, goes back to
  standby, and only the new leader repairs a child deleted by hand. It can lead again later.

Each replica's Lease identity starts with its HOSTNAME (`replica-a_…`), which is how a test knows whom the
Lease names. The shared operator is stopped for this module: it would reconcile these stacks too.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import (
    RELEASED_TAKEOVER_WITHIN,
    TAKEOVER_WITHIN,
    WRITES,
    OperatorProcess,
    get_json,
    read_health,
    wait_phase,
)

from kubelocal.process import wait_for
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localservices.server import LOOPBACK

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
MINIMAL: dict[str, Any] = {"backend": {"image": IMAGE}}
LEASE = "webstack-operator"
STACKS = 5


class Replica(OperatorProcess):
    """One operator process; its Lease identity starts with `replica` (its HOSTNAME)."""

    def __init__(self, replica: str, kubeconfig: Path, log_dir: Path, lease_namespace: str) -> None:
        super().__init__(
            kubeconfig, log_dir, env={"HOSTNAME": replica, "WEBSTACK_LEASE_NAMESPACE": lease_namespace}
        )
        self.replica = replica

    def __repr__(self) -> str:
        return f"Replica({self.replica}, pid {self.pid})"

    def _healthy(self) -> bool:
        return True  # start() returns at once: a pair is started together, then awaited (below)

    def health(self) -> dict[str, Any]:
        return read_health(f"http://{LOOPBACK}:{self.liveness_port}/healthz")

    def answers(self) -> bool:
        return self.health()["status"] == "ok"

    def role(self) -> str:
        return str(self.health()["role"])

    def leads(self) -> bool:
        return self.metric("webstack_leader") == 1

    def writes(self) -> dict[str, float]:
        return {m: self.metric("webstack_api_requests_total", method=m) for m in WRITES}

    def holds(self, lease: dict[str, Any]) -> bool:
        return str(lease["spec"].get("holderIdentity") or "").startswith(f"{self.replica}_")

    def send(self, sig: signal.Signals) -> None:
        assert self.process is not None
        os.kill(self.process.pid, sig)


@dataclass
class Election:
    cluster: KubeTarget
    lease_namespace: str
    log_dir: Path

    def lease(self) -> dict[str, Any]:
        return get_json(self.cluster, "lease", LEASE, "-n", self.lease_namespace)

    def forget_lease(self) -> None:
        """A stopped holder does not release the Lease: delete it, so the next pair starts fresh."""
        self.cluster.kubectl("delete", "lease", LEASE, "-n", self.lease_namespace, "--ignore-not-found")


def shared_lease_namespace(operator: OperatorProcess) -> str:
    """Where the shared operator keeps its Lease (`default`: no POD_NAMESPACE outside a pod)."""
    return operator.extra_env.get("WEBSTACK_LEASE_NAMESPACE", "default")


@pytest.fixture(scope="module")
def election(
    platform: KubeTarget, operator: OperatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Election]:
    """A namespace of its own for the Lease; the shared operator stopped meanwhile, then restarted."""
    operator.stop()
    lease_namespace = f"lease-{uuid.uuid4().hex[:8]}"
    platform.kubectl("create", "namespace", lease_namespace)
    try:
        yield Election(platform, lease_namespace, tmp_path_factory.mktemp("election"))
    finally:
        platform.kubectl("delete", "namespace", lease_namespace, "--wait=false", check=False)
        # The shared operator's own Lease, held when it stopped: gone, it leads again at once.
        shared = shared_lease_namespace(operator)
        platform.kubectl("delete", "lease", LEASE, "-n", shared, "--ignore-not-found")
        operator.start()
        eventually(lambda: operator.metric("webstack_leader"), until=lambda v: v == 1, what="shared leads")


@pytest.fixture
def replicas(election: Election) -> Iterator[tuple[Replica, Replica]]:
    """Two replicas started at once, so that they race to create the Lease."""
    pair = tuple(
        Replica(name, election.cluster.kubeconfig_path, election.log_dir, election.lease_namespace)
        for name in ("replica-a", "replica-b")
    )
    a, b = pair
    try:
        # Not from threads: a child's PDEATHSIG fires when the *thread* that started it ends.
        for r in pair:
            r.start()
        for r in pair:
            wait_for(r, r.answers, timeout=60, what=f"{r} /healthz")
        yield a, b
    finally:
        for r in pair:
            if r.alive():
                r.send(signal.SIGCONT)  # a stopped process would hold its SIGTERM until the grace ends
            r.stop()
        election.forget_lease()


def one_leader(replicas: tuple[Replica, Replica]) -> tuple[Replica, Replica]:
    """(leader, standby), once exactly one of the two says it leads."""
    roles = eventually(
        lambda: tuple(r.role() for r in replicas),
        until=lambda rs: sorted(rs) == ["leader", "standby"],
        timeout=30,
        what="one leader and one standby",
    )
    leader, standby = replicas if roles[0] == "leader" else replicas[::-1]
    return leader, standby


def takeover_seconds(new: Replica, since: float) -> float:
    eventually(new.leads, timeout=TAKEOVER_WITHIN + 30, interval=0.05, what=f"{new} leads")
    return time.monotonic() - since


def test_one_replica_leads_and_the_standby_writes_nothing(
    election: Election, replicas: tuple[Replica, Replica], namespace: str
) -> None:
    leader, standby = one_leader(replicas)
    # Started together, both may have found no Lease and tried to create it: the loser's one POST was
    # answered 409 and is the election's, not a write. Nothing may follow it.
    elected = standby.writes()
    assert elected == {**dict.fromkeys(WRITES, 0.0), "POST": min(elected["POST"], 1.0)}, standby.tail()
    apply_webstack(election.cluster, namespace, "shop", MINIMAL)
    wait_phase(election.cluster, namespace, "shop")
    # Over several renewals: always the same leader, named by the Lease, and one leader only.
    seen: list[tuple[str, bool, str, str, float, float]] = []

    def observe() -> set[str]:
        lease = election.lease()
        seen.append(
            (
                lease["spec"]["renewTime"],
                leader.holds(lease),
                leader.role(),
                standby.role(),
                leader.metric("webstack_leader"),
                standby.metric("webstack_leader"),
            )
        )
        return {renewal for renewal, *_ in seen}

    eventually(observe, until=lambda renewals: len(renewals) >= 4, timeout=30, what="three renewals")
    wrong = [s for s in seen if s[1:] != (True, "leader", "standby", 1.0, 0.0)]
    assert not wrong, wrong
    # The standby ran the election only: no watch, no reconcile, and not one write.
    assert standby.writes() == elected, standby.tail()
    assert standby.metric("webstack_api_requests_total", method="WATCH") == 0
    assert standby.metric("webstack_reconcile_total") == 0
    assert standby.metric("webstack_api_requests_total", method="GET") > 0  # it does look at the Lease
    # The operator itself never PUTs (apply.py: PATCH, POST, DELETE): the leader's PUTs are its renewals,
    # counted in the same metric as every other request (the election's client shares the registry).
    assert leader.metric("webstack_api_requests_total", method="PUT") >= 3


def test_a_leader_stopped_as_in_a_rollout_is_replaced_within_the_lease(
    election: Election, replicas: tuple[Replica, Replica], namespace: str
) -> None:
    leader, standby = one_leader(replicas)
    apply_webstack(election.cluster, namespace, "shop", MINIMAL)
    wait_phase(election.cluster, namespace, "shop")
    process = leader.process
    assert process is not None
    stopped = time.monotonic()
    leader.stop()  # SIGTERM, then SIGKILL after the grace period (30 s, as the Deployment's)
    exited = time.monotonic() - stopped
    assert process.returncode == 0, leader.tail()
    assert exited < leader.grace, f"exited {exited:.1f}s after SIGTERM"
    took_over = takeover_seconds(standby, stopped)
    print(f"graceful stop: exited {exited:.1f}s, taken over {took_over:.1f}s after SIGTERM")
    # The Lease is released on the way out: the standby takes it at its next look (every 2 s), no expiry.
    assert took_over <= exited + RELEASED_TAKEOVER_WITHIN, f"taken over {took_over:.1f}s after SIGTERM"
    assert standby.holds(election.lease())


def test_a_killed_leader_is_replaced_within_the_lease_and_every_stack_gets_ready(
    election: Election, replicas: tuple[Replica, Replica], namespace: str
) -> None:
    cluster = election.cluster
    leader, standby = one_leader(replicas)
    transitions = int(election.lease()["spec"].get("leaseTransitions") or 0)
    names = [f"s{i}" for i in range(STACKS)]
    for name in names:
        apply_webstack(cluster, namespace, name, MINIMAL)
    # Mid-reconcile: as soon as the first child exists.
    eventually(
        lambda: leader.metric("webstack_object_writes_total", action="Created"),
        until=lambda n: n >= 1,
        interval=0.05,
        timeout=60,
        what="the leader's first child created",
    )
    killed = time.monotonic()
    leader.kill()
    ready = [
        n
        for n in names
        if (get_json(cluster, "webstack", n, "-n", namespace).get("status") or {}).get("phase") == "Ready"
    ]
    assert len(ready) < STACKS, "every stack was already Ready: not killed mid-reconcile"

    took_over = takeover_seconds(standby, killed)
    eventually(
        lambda: standby.metric("webstack_reconcile_total", result="success"),
        until=lambda n: n >= 1,
        interval=0.05,
        timeout=90,
        what="the new leader's first reconcile",
    )
    first_reconciled = time.monotonic() - killed
    for name in names:
        wait_phase(cluster, namespace, name)
    all_ready = time.monotonic() - killed
    print(
        f"failover: takeover {took_over:.1f}s, first stack reconciled {first_reconciled:.1f}s, "
        f"{STACKS} stacks Ready {all_ready:.1f}s after SIGKILL ({len(ready)} Ready at the kill)"
    )
    assert took_over <= TAKEOVER_WITHIN, f"took over {took_over:.1f}s after the kill"
    lease = election.lease()
    assert standby.holds(lease), lease
    assert lease["spec"]["leaseTransitions"] == transitions + 1, lease
    assert standby.role() == "leader"


def test_a_paused_leader_is_replaced_and_once_resumed_writes_nothing(
    election: Election, replicas: tuple[Replica, Replica], namespace: str
) -> None:
    cluster = election.cluster
    old, new = one_leader(replicas)
    apply_webstack(cluster, namespace, "shop", MINIMAL)
    wait_phase(cluster, namespace, "shop")

    # Stop it right after a renewal, so that its counters are read before any later write.
    renewals = old.metric("webstack_api_requests_total", method="PUT")
    eventually(
        lambda: old.metric("webstack_api_requests_total", method="PUT"),
        until=lambda n: n > renewals,
        interval=0.02,
        timeout=10,
        what=f"{old} renews",
    )
    before = old.writes()
    stopped = time.monotonic()
    old.send(signal.SIGSTOP)
    took_over = takeover_seconds(new, stopped)
    print(f"paused leader: taken over {took_over:.1f}s after SIGSTOP (sent just after a renewal)")
    assert took_over <= TAKEOVER_WITHIN, f"took over {took_over:.1f}s after SIGSTOP"
    # Work the old leader will find waiting when it resumes: a new spec, which the new leader applies.
    apply_webstack(cluster, namespace, "shop", {"backend": {"image": "ghcr.io/webstack-dev/users-api:0.2.0"}})
    wait_phase(cluster, namespace, "shop")

    old.send(signal.SIGCONT)
    eventually(
        lambda: (old.role(), old.metric("webstack_leader")),
        until=lambda state: state == ("standby", 0),
        timeout=30,
        what=f"{old} back to standby",
    )
    assert old.health()["status"] == "ok", old.health()  # stepped down: a healthy standby, not a restart
    assert old.writes() == before, old.tail()
    assert new.holds(election.lease())

    # A child deleted by hand: the new leader restores it; the old one does nothing.
    drift = {r.replica: r.metric("webstack_drift_corrections_total") for r in (old, new)}
    uid = get_json(cluster, "service", "shop-backend", "-n", namespace)["metadata"]["uid"]
    cluster.kubectl("delete", "service", "shop-backend", "-n", namespace)
    eventually(
        lambda: get_json(cluster, "service", "shop-backend", "-n", namespace)["metadata"]["uid"],
        until=lambda new_uid: new_uid != uid,
        timeout=30,
        what="shop-backend restored",
    )
    eventually(
        lambda: new.metric("webstack_drift_corrections_total"),
        until=lambda n: n > drift[new.replica],
        timeout=10,
        what=f"{new} counts the drift it corrected",
    )
    assert old.metric("webstack_drift_corrections_total") == drift[old.replica]
    assert old.writes() == before, old.tail()
    assert old.role() == "standby"

    # Back in the election, the old leader can lead again: kill the new one, and it repairs drift.
    killed = time.monotonic()
    new.kill()
    took_over = takeover_seconds(old, killed)
    assert took_over <= TAKEOVER_WITHIN, f"took over {took_over:.1f}s after SIGKILL"
    uid = get_json(cluster, "service", "shop-backend", "-n", namespace)["metadata"]["uid"]
    cluster.kubectl("delete", "service", "shop-backend", "-n", namespace)
    eventually(
        lambda: get_json(cluster, "service", "shop-backend", "-n", namespace)["metadata"]["uid"],
        until=lambda new_uid: new_uid != uid,
        timeout=60,
        what="shop-backend restored by the old leader, leading again",
    )
    assert old.holds(election.lease())

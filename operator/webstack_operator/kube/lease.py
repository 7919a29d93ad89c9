"""Leader election on a `coordination.k8s.io/v1` Lease: of several replicas, only the holder works.

kopf's peering is not leader election, so replicas elect here, before kopf starts: a standby runs nothing
but this loop (and its health endpoint). Expiry is judged by this process's own clock — how long since it
last saw the lease's renewTime change — so clock skew between nodes cannot hand the lease to two holders.
The holder may write only while `may_write()`: its last successful renewal is younger than the renew
deadline, which is shorter than the lease duration, so a paused or partitioned leader stops writing before
anyone else can take over.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.kube.jsondata import JSON

log = logging.getLogger(__name__)

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"


@dataclass(frozen=True)
class LeaseTiming:
    """client-go's defaults scaled down. A standby takes over at most `duration` + 2 * `retry` seconds after
    the last renewal (it sees a renewal up to one retry late, and looks once per retry); at once after a
    holder releases the lease on a clean stop."""

    duration: float = 15.0  # how long a lease holds without renewal
    renew_deadline: float = 10.0  # the holder stops writing when it could not renew for this long
    retry: float = 2.0  # how often the holder renews and a standby looks


class Step(StrEnum):
    CREATE = "create"  # no lease yet
    RENEW = "renew"  # ours
    TAKE = "take"  # someone else's, expired
    WAIT = "wait"  # someone else's, alive


def next_step(lease: JSON | None, me: str, *, unchanged_for: float, timing: LeaseTiming) -> Step:
    """What to do with the lease as read; `unchanged_for` is how long (on our clock) its holder and
    renewTime have stayed as they are now."""
    if lease is None:
        return Step.CREATE
    spec = lease.get("spec") or {}
    holder = spec.get("holderIdentity") or ""
    if holder == me:
        return Step.RENEW
    duration = float(spec.get("leaseDurationSeconds") or timing.duration)
    if not holder or unchanged_for > duration:
        return Step.TAKE
    return Step.WAIT


def lease_body(
    namespace: str, name: str, me: str, now: str, timing: LeaseTiming, previous: JSON | None
) -> JSON:
    """The Lease with us as holder; a takeover counts a transition and keeps the resourceVersion, so two
    standbys racing for it cannot both win (the apiserver answers the loser 409)."""
    spec = (previous or {}).get("spec") or {}
    ours = spec.get("holderIdentity") == me
    transitions = int(spec.get("leaseTransitions") or 0) + (0 if ours or previous is None else 1)
    metadata: JSON = {"name": name, "namespace": namespace}
    if previous is not None:
        metadata["resourceVersion"] = previous["metadata"]["resourceVersion"]
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": metadata,
        "spec": {
            "holderIdentity": me,
            "leaseDurationSeconds": int(timing.duration),
            "acquireTime": spec.get("acquireTime") if ours else now,
            "renewTime": now,
            "leaseTransitions": transitions,
        },
    }


def micro_time() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    def __init__(
        self,
        client: KubeClient,
        namespace: str,
        name: str,
        identity: str,
        *,
        timing: LeaseTiming = LeaseTiming(),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.timing = timing
        self._clock = clock
        self._renewed_at: float | None = None  # our clock, at our last successful acquire or renew
        self._seen: tuple[str, str] | None = None  # (holder, renewTime) last read
        self._seen_at = 0.0

    def may_write(self) -> bool:
        """True only while our hold on the lease is certain."""
        return self._renewed_at is not None and self._clock() - self._renewed_at < self.timing.renew_deadline

    async def acquire(self) -> None:
        """Returns once we hold the lease (standby until then)."""
        logged = False
        while not await self.try_once():
            if not logged:
                log.info("standby: waiting for lease %s/%s", self.namespace, self.name)
                logged = True
            await asyncio.sleep(self.timing.retry)
        log.info("leader: holding lease %s/%s as %s", self.namespace, self.name, self.identity)

    async def hold(self) -> None:
        """Renews until the hold is lost (another holder, or no renewal within the deadline), then returns."""
        while True:
            await asyncio.sleep(self.timing.retry)
            if not await self.try_once() and not self.may_write():
                log.error("lost lease %s/%s: stopping all writes", self.namespace, self.name)
                self._renewed_at = None
                return

    async def try_once(self) -> bool:
        """One look at the lease, and one write when it is ours to take or keep. True when we hold it."""
        path = LEASES.format(namespace=self.namespace)
        try:
            lease = await self.client.request("GET", f"{path}/{self.name}")
        except ApiError as e:
            if e.status != 404:
                log.warning("could not read lease %s/%s: %s", self.namespace, self.name, e)
                return self.may_write()  # a holder stays one until its renew deadline
            lease = None
        unchanged_for = self._unchanged_for(lease)
        step = next_step(lease, self.identity, unchanged_for=unchanged_for, timing=self.timing)
        if step is Step.RENEW and not self.may_write():
            # Still our name, past our deadline (we were cut off): nobody else holds it, so we take it
            # back as a new hold. A standby racing us for it carries the same resourceVersion: one wins.
            step = Step.TAKE
        if step is Step.WAIT:
            if self._renewed_at is not None:
                log.error("lease %s/%s: no longer certain to hold it", self.namespace, self.name)
                self._renewed_at = None
            return False
        body = lease_body(self.namespace, self.name, self.identity, micro_time(), self.timing, lease)
        started = self._clock()
        try:
            if lease is None:
                await self.client.request("POST", path, body=body)
            else:
                await self.client.request("PUT", f"{path}/{self.name}", body=body)
        except ApiError as e:
            if e.status not in (409, 404):
                log.warning("could not %s lease %s/%s: %s", step.value, self.namespace, self.name, e)
            return self.may_write() if step is Step.RENEW else False
        if step is Step.TAKE:
            log.info("took over lease %s/%s from %r", self.namespace, self.name, _holder(lease))
        self._renewed_at = started  # measured from before the request: never longer than the truth
        return True

    async def release(self) -> None:
        """On a clean stop: give the lease up (no holder), so a standby takes over at its next look instead
        of waiting for the lease to expire. Best effort: an expired lease does the same, only later."""
        was_holder, self._renewed_at = self._renewed_at is not None, None
        if not was_holder:
            return
        path = f"{LEASES.format(namespace=self.namespace)}/{self.name}"
        try:
            lease = await self.client.request("GET", path)
            if _holder(lease) != self.identity:
                return
            spec = {**lease["spec"], "holderIdentity": None, "renewTime": micro_time()}
            await self.client.request("PUT", path, body={**lease, "spec": spec})
            log.info("released lease %s/%s", self.namespace, self.name)
        except ApiError as e:
            log.warning("could not release lease %s/%s (it will expire): %s", self.namespace, self.name, e)

    def _unchanged_for(self, lease: JSON | None) -> float:
        now = self._clock()
        spec = (lease or {}).get("spec") or {}
        seen = (str(spec.get("holderIdentity") or ""), str(spec.get("renewTime") or ""))
        if seen != self._seen:
            self._seen, self._seen_at = seen, now
        return now - self._seen_at


def _holder(lease: JSON | None) -> str:
    return str(((lease or {}).get("spec") or {}).get("holderIdentity") or "")

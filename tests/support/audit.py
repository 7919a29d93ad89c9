"""The operator pods' writes as the apiserver's audit log records them, and what leader election promises
about them: one writer at a time, each within its pod's term as the Lease's holder.

The log (kubelocal.audit_log) holds the operator account's writes only. Each is attributed by the pod
its bound token names (`user.extra`), so kopf's own requests count too, which no per-pod counter sees.
Everything but `audit_log_or_skip` is a pure function of the JSON lines, unit-tested on synthetic events.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from kubelocal.audit_log import OPERATOR_USER, WRITE_VERBS, log_files
from kubelocal.target import KubeTarget

POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name"
LEASES = "leases"
TAKE_VERBS = ("create", "update")
TAKE_CODES = (200, 201)
MAX_LISTED = 30  # lines of writes a failure shows


@dataclass(frozen=True)
class AuditWrite:
    """One write request of an operator pod, as its response completed. `resource` carries the
    subresource (`webstacks/status`); `lease_holder` is the holderIdentity a Lease write's body named
    (`<pod>_<suffix>`; None when released, or on any other row)."""

    pod: str
    verb: str
    resource: str
    namespace: str
    name: str
    code: int
    received: datetime
    completed: datetime
    lease_holder: str | None = None

    @property
    def is_lease(self) -> bool:
        return self.resource == LEASES

    @property
    def succeeded(self) -> bool:
        return 0 < self.code < 400

    @property
    def holder_pod(self) -> str | None:
        """The pod the Lease body names: the operator's identity is `<HOSTNAME>_<8 hex>` (config/
        run_options.py), and a pod's HOSTNAME is its name."""
        if not self.lease_holder:
            return None
        pod, _, _ = self.lease_holder.rpartition("_")
        return pod or self.lease_holder

    def __str__(self) -> str:
        where = "/".join(part for part in (self.namespace, self.name) if part)
        holder = f" holder={self.lease_holder}" if self.is_lease else ""
        return f"{_clock(self.received)} {self.pod} {self.verb} {self.resource} {where} {self.code}{holder}"


@dataclass(frozen=True)
class Term:
    """A pod's time as the Lease's holder: from its take (completed: only then did it hold) until the next
    successful Lease write that names another holder or none (received), or open."""

    pod: str
    began: datetime
    ended: datetime | None

    def holds(self, write: AuditWrite) -> bool:
        """A pod writes only once its take returned, and must have finished before anyone else asked."""
        return self.began <= write.received and (self.ended is None or write.completed <= self.ended)

    def __str__(self) -> str:
        return f"{self.pod} [{_clock(self.began)} .. {_clock(self.ended) if self.ended else 'open'}]"


def events(path: Path) -> Iterator[dict[str, Any]]:
    """Every event of the log and its rotated backup, oldest first. A last line still being written
    (no newline yet) is left for the next read, and a backup removed by the next rotation is skipped."""
    for file in log_files(path):
        try:
            lines = file.read_text().splitlines(keepends=True)
        except FileNotFoundError:
            continue
        for line in lines:
            if line.endswith("\n") and line.strip():
                yield json.loads(line)


def operator_writes(path: Path, since: datetime, user: str = OPERATOR_USER) -> list[AuditWrite]:
    """The writes of `user` made from a pod (its token names one), received at or after `since` (aware),
    in the order received: Lease rows and failed requests included, as the checks below tell them apart."""
    rows = [as_write(event, user) for event in events(path)]
    return sorted((r for r in rows if r is not None and r.received >= since), key=lambda r: r.received)


def as_write(event: dict[str, Any], user: str = OPERATOR_USER) -> AuditWrite | None:
    """The row of one event, or None: another user, a read, an unfinished stage, or no pod in its token."""
    who = event.get("user") or {}
    pods = (who.get("extra") or {}).get(POD_NAME_EXTRA) or []
    if (
        event.get("stage") != "ResponseComplete"
        or who.get("username") != user
        or event.get("verb") not in WRITE_VERBS
        or not pods
    ):
        return None
    ref = event.get("objectRef") or {}
    resource = "/".join(part for part in (ref.get("resource"), ref.get("subresource")) if part)
    body = event.get("requestObject") or {}
    return AuditWrite(
        pod=str(pods[0]),
        verb=str(event["verb"]),
        resource=resource,
        namespace=str(ref.get("namespace") or ""),
        name=str(ref.get("name") or body.get("metadata", {}).get("name") or ""),
        code=int((event.get("responseStatus") or {}).get("code") or 0),
        received=_time(event["requestReceivedTimestamp"]),
        completed=_time(event["stageTimestamp"]),
        lease_holder=((body.get("spec") or {}).get("holderIdentity") or None) if resource == LEASES else None,
    )


def successful_writes(rows: Iterable[AuditWrite]) -> list[AuditWrite]:
    """What the pods changed: successful writes other than the Lease's."""
    return [row for row in rows if row.succeeded and not row.is_lease]


def leader_terms(rows: Iterable[AuditWrite]) -> list[Term]:
    """The terms, from the successful Lease takes and releases in the order received. A renewal names
    the holder again and changes nothing."""
    terms: list[Term] = []
    holder: str | None = None
    for row in sorted(rows, key=lambda r: r.received):
        if not (row.is_lease and row.verb in TAKE_VERBS and row.code in TAKE_CODES):
            continue
        named = row.holder_pod
        if named == holder:
            continue
        if terms and terms[-1].ended is None:
            terms[-1] = Term(terms[-1].pod, terms[-1].began, row.received)
        if named is not None:
            terms.append(Term(named, row.completed, None))
        holder = named
    return terms


def assert_one_writer_at_a_time(rows: Sequence[AuditWrite]) -> None:
    """Each pod's successful writes span a window [first received, last completed]; no two pods' windows
    overlap. A pod that leads twice around another's term fails too: none does in the suite."""
    writes = successful_writes(rows)
    windows: dict[str, tuple[datetime, datetime]] = {}
    for w in writes:
        first, last = windows.get(w.pod, (w.received, w.completed))
        windows[w.pod] = (min(first, w.received), max(last, w.completed))
    ordered = sorted(windows.items(), key=lambda item: item[1][0])
    clashes = [(a, b) for a, b in itertools.pairwise(ordered) if a[1][1] >= b[1][0]]
    if not clashes:
        return
    lines = [f"writes of two operator pods interleave ({len(writes)} writes in all):"]
    for (pod_a, (first_a, last_a)), (pod_b, (first_b, last_b)) in clashes:
        lines.append(
            f"  {pod_a} [{_clock(first_a)} .. {_clock(last_a)}] overlaps {pod_b} "
            f"[{_clock(first_b)} .. {_clock(last_b)}]; in order:"
        )
        both = [w for w in writes if w.pod in (pod_a, pod_b) and first_b <= w.received <= last_a]
        lines += [f"    {w}" for w in both[:MAX_LISTED]]
    raise AssertionError("\n".join(lines))


def assert_writes_within_terms(rows: Sequence[AuditWrite]) -> None:
    """Every successful write lies in a term of its own pod (`Term.holds`). The rows must start before
    the first term they are judged by: a write before any take in them fails."""
    terms = leader_terms(rows)
    outside = [w for w in successful_writes(rows) if not any(t.pod == w.pod and t.holds(w) for t in terms)]
    if outside:
        listed = "\n".join(f"  {w}" for w in outside[:MAX_LISTED])
        raise AssertionError(
            f"{len(outside)} write(s) outside their pod's term as the Lease's holder:\n{listed}\n"
            f"terms: {', '.join(map(str, terms)) or 'none (no successful take in the rows)'}"
        )


def audit_log_or_skip(cluster: KubeTarget) -> Path:
    """The audit log of the session's cluster; skips the test on a cluster that is not ours."""
    path = cluster.audit_log_path
    if path is None:
        pytest.skip("no audit log: only the local control plane's apiserver is ours to configure")
    return path


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


def _clock(moment: datetime) -> str:
    return moment.strftime("%H:%M:%S.%f")

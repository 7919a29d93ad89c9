"""The operator's own Prometheus metrics; one registry, served on the metrics port."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# Counters are given their exposed name; prometheus_client keeps `_total` as the sample suffix.
from webstack_operator.telemetry import metric_names

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    metric_names.RECONCILE_TOTAL,
    "Reconciles of a WebStack, by result (success, error, invalid_spec, paused).",
    ["result"],
    registry=REGISTRY,
)
RECONCILE_EXCEPTIONS = Counter(
    metric_names.RECONCILE_EXCEPTIONS_TOTAL,
    "Reconciles that raised an unexpected exception (a bug, not an API error); each is also counted in "
    "webstack_reconcile_total as an error and retried with the per-stack backoff.",
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    metric_names.RECONCILE_DURATION_SECONDS,
    "Time one reconcile took, from render to status written.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
LAST_RECONCILE = Gauge(
    metric_names.LAST_RECONCILE_TIMESTAMP_SECONDS,
    "When this replica last finished a reconcile, whatever its result (Unix time; 0: never). The "
    "WebStackOperatorNotReconciling alert compares it with the resync period.",
    registry=REGISTRY,
)
STACKS = Gauge(
    metric_names.STACKS,
    "Managed WebStacks by phase.",
    ["phase"],
    registry=REGISTRY,
)
DRIFT_CORRECTIONS = Counter(
    metric_names.DRIFT_CORRECTIONS_TOTAL,
    "Children found changed or deleted by someone else and put back, by kind.",
    ["kind"],
    registry=REGISTRY,
)
API_ERRORS = Counter(
    metric_names.API_ERRORS_TOTAL,
    "Kubernetes API calls that failed, by HTTP status (0: no answer).",
    ["status"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    metric_names.API_REQUESTS_TOTAL,
    "Requests the operator's own client sent to the Kubernetes API (kopf's watches not included), by method.",
    ["method"],
    registry=REGISTRY,
)
CREDENTIALS_ROTATIONS = Counter(
    metric_names.CREDENTIALS_ROTATIONS_TOTAL,
    "Credentials rotations ended, by result (succeeded, failed).",
    ["result"],
    registry=REGISTRY,
)
OBJECT_WRITES = Counter(
    metric_names.OBJECT_WRITES_TOTAL,
    "Children written, by action (Created, Updated, DriftCorrected, Recreated, Pruned) and kind.",
    ["action", "kind"],
    registry=REGISTRY,
)


CACHED_CHILDREN = Gauge(
    metric_names.CACHED_CHILDREN,
    "Child objects held (slimmed) in the operator's cache.",
    registry=REGISTRY,
)
TRACKED_STACKS = Gauge(
    metric_names.CACHE_STACKS,
    "Stacks the cache holds entries for (existing WebStacks, and deleted ones whose children remain).",
    registry=REGISTRY,
)
LEADER = Gauge(
    metric_names.LEADER,
    "1 while this replica holds the leader Lease (and so reconciles), else 0.",
    registry=REGISTRY,
)
QUEUE_DEPTH = Gauge(
    metric_names.QUEUE_DEPTH,
    "Stacks waiting for, or in, a reconcile.",
    registry=REGISTRY,
)

_STACK = [metric_names.LABEL_STACK_NAMESPACE, metric_names.LABEL_STACK]
DRILL_SUCCESS = Gauge(
    metric_names.DRILL_SUCCESS,
    "Whether the last restore drill passed (1) or failed (0).",
    _STACK,
    registry=REGISTRY,
)
DRILL_TIMESTAMP = Gauge(
    metric_names.DRILL_TIMESTAMP_SECONDS,
    "When the last restore drill ended (Unix time).",
    _STACK,
    registry=REGISTRY,
)
DRILL_PERIOD = Gauge(
    metric_names.DRILL_PERIOD_SECONDS,
    "spec.backup.drill.period: the WebStackBackupDrillFailing alert fires when the last drill is older.",
    _STACK,
    registry=REGISTRY,
)
DRILL_RPO = Gauge(
    metric_names.DRILL_RPO_SECONDS,
    "RPO of the last passed drill: the age of the restored data when the restored database answered.",
    _STACK,
    registry=REGISTRY,
)
DRILL_RTO = Gauge(
    metric_names.DRILL_RTO_SECONDS,
    "RTO of the last passed drill: from its start to a restored database that answered the checks.",
    _STACK,
    registry=REGISTRY,
)
_DRILL_GAUGES = (DRILL_SUCCESS, DRILL_TIMESTAMP, DRILL_PERIOD, DRILL_RPO, DRILL_RTO)


def record_drill(
    stack: tuple[str, str], period: float, success: bool, ended: float, rpo: float | None, rto: float | None
) -> None:
    """The gauges of a stack's last drill (RPO and RTO keep the last passed drill's values)."""
    DRILL_PERIOD.labels(*stack).set(period)
    DRILL_SUCCESS.labels(*stack).set(1 if success else 0)
    DRILL_TIMESTAMP.labels(*stack).set(ended)
    if rpo is not None:
        DRILL_RPO.labels(*stack).set(rpo)
    if rto is not None:
        DRILL_RTO.labels(*stack).set(rto)


def forget_drills() -> None:
    """A replica that stepped down reports no drills: the leader does."""
    for gauge in _DRILL_GAUGES:
        gauge.clear()


def forget_drill(stack: tuple[str, str]) -> None:
    for gauge in _DRILL_GAUGES:
        with contextlib.suppress(KeyError):
            gauge.remove(*stack)


class PhaseGauge:
    """`webstack_stacks{phase}` kept from the latest phase of every stack, in O(1) per change."""

    NAMES = ("Pending", "Progressing", "Ready", "Degraded", "Failed", "Paused")

    def __init__(self) -> None:
        self._phases: dict[tuple[str, str], str] = {}
        for phase in self.NAMES:
            STACKS.labels(phase=phase).set(0)

    def get(self, stack: tuple[str, str]) -> str:
        return self._phases.get(stack, "Pending")

    def set(self, stack: tuple[str, str], phase: str) -> None:
        old = self._phases.get(stack)
        if old == phase:
            return
        if old is not None:
            STACKS.labels(phase=old).dec()
        self._phases[stack] = phase
        STACKS.labels(phase=phase).inc()

    def drop(self, stack: tuple[str, str]) -> None:
        old = self._phases.pop(stack, None)
        if old is not None:
            STACKS.labels(phase=old).dec()

    def clear(self) -> None:
        """Every stack forgotten: a replica that stepped down must not keep reporting (and alerting on)
        stacks only the leader follows."""
        self._phases.clear()
        for phase in self.NAMES:
            STACKS.labels(phase=phase).set(0)


PHASES = PhaseGauge()

"""The operator's own Prometheus metrics; one registry, served on the metrics port."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

RECONCILES = Counter(
    "webstack_reconcile_total",
    "Reconciles of a WebStack, by result (success, error, invalid_spec, paused).",
    ["result"],
    registry=REGISTRY,
)
RECONCILE_DURATION = Histogram(
    "webstack_reconcile_duration_seconds",
    "Time one reconcile took, from render to status written.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)
STACKS = Gauge(
    "webstack_stacks",
    "Managed WebStacks by phase.",
    ["phase"],
    registry=REGISTRY,
)
DRIFT_CORRECTIONS = Counter(
    "webstack_drift_corrections_total",
    "Children found changed or deleted by someone else and put back, by kind.",
    ["kind"],
    registry=REGISTRY,
)
API_ERRORS = Counter(
    "webstack_api_errors_total",
    "Kubernetes API calls that failed, by HTTP status (0: no answer).",
    ["status"],
    registry=REGISTRY,
)
API_REQUESTS = Counter(
    "webstack_api_requests_total",
    "Requests the operator's own client sent to the Kubernetes API (kopf's watches not included), by method.",
    ["method"],
    registry=REGISTRY,
)
OBJECT_WRITES = Counter(
    "webstack_object_writes_total",
    "Children written, by action (Created, Updated, DriftCorrected, Recreated, Pruned) and kind.",
    ["action", "kind"],
    registry=REGISTRY,
)

PHASES = ("Pending", "Progressing", "Ready", "Degraded", "Failed", "Paused")


def set_phases(phases: dict[tuple[str, str], str]) -> None:
    """Sets the by-phase gauge from the latest phase of every known stack."""
    counts = dict.fromkeys(PHASES, 0)
    for phase in phases.values():
        counts[phase] = counts.get(phase, 0) + 1
    for phase, n in counts.items():
        STACKS.labels(phase=phase).set(n)

"""What the backend Rollout and its AnalysisRuns say of a canary: in progress, promoted, or aborted and why.

Pure, for the `CanaryProgressing` condition (made here too; `Ready` reads the verdict, since an aborted
canary degrades the stack). Argo Rollouts forgets which AnalysisRun judged a canary once the rollout
settles (its `status.canary` is emptied on promotion and on abort), so the run is found among the stack's
AnalysisRuns by the pod-template hash it judged and the Rollout revision it belongs to: a rollback to an
older ReplicaSet gets a new revision, and an old run of that ReplicaSet does not count.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from webstack_operator.api.spec import WebStackSpec
from webstack_operator.builders.canary import HASH_LABEL, LATENCY_METRIC, SUCCESS_RATE_METRIC
from webstack_operator.kube.jsondata import JSON
from webstack_operator.status.conditions import ConditionMaker
from webstack_operator.status.observed import Observed

REVISION = "rollout.argoproj.io/revision"
IN_PROGRESS, ABORTED, PROMOTED, STABLE = "CanaryInProgress", "CanaryAborted", "CanaryPromoted", "Stable"
NO_ARGO_ROLLOUTS = "ArgoRolloutsNotInstalled"
_BAD_PHASES = ("Failed", "Error")


@dataclass(frozen=True)
class CanaryVerdict:
    moving: bool  # the condition's status: a canary is under way
    reason: str  # CanaryInProgress | CanaryAborted | CanaryPromoted | Stable
    message: str


def canary_state(rollout: JSON | None, steps: int) -> tuple[bool, str]:
    """Whether a Rollout is between its stable and a new version, and where in its steps."""
    if rollout is None or rollout.get("kind") != "Rollout":
        return False, ""
    status = rollout.get("status", {}) or {}
    phase = status.get("phase", "")
    stable, current = status.get("stableRS"), status.get("currentPodHash")
    index = status.get("currentStepIndex")
    # A first rollout (or a restart) progresses too, but with every step done: that is no canary.
    steps_left = index is not None and int(index) < steps
    # Argo's first status of a new Rollout may show step 0 before it finds there is nothing to compare
    # with: a canary needs a stable ReplicaSet, and a revision after the first.
    revision = (rollout.get("metadata", {}).get("annotations") or {}).get(REVISION)
    if not stable or revision == "1":
        return False, ""
    moving = (
        bool(stable and current and stable != current)
        or phase == "Paused"
        or (phase == "Progressing" and steps_left)
    )
    if not moving or phase == "Healthy":
        return False, ""
    where = f"step {index}/{steps}" if index is not None else "starting"
    if status.get("pauseConditions") or phase == "Paused":
        where += ", paused"
    if phase == "Degraded" or status.get("abort"):
        where += ", aborted"
    return True, f"canary at {where}: {status.get('message') or phase}"


def analysis_limits(spec: WebStackSpec) -> dict[str, str]:
    """What each metric of the AnalysisTemplate must meet, as the spec sets it (empty without analysis)."""
    analysis = spec.backend.delivery.analysis
    if analysis is None:
        return {}
    return {
        SUCCESS_RATE_METRIC: f">= {analysis.min_success_rate:g}",
        LATENCY_METRIC: f"<= {analysis.max_p95_latency_seconds:g}s",
    }


def judged_run(rollout: JSON, runs: Sequence[JSON], pod_hash: str | None) -> JSON | None:
    """The newest AnalysisRun of this Rollout revision that judged the pods of `pod_hash`."""
    if not pod_hash:
        return None
    revision = (rollout["metadata"].get("annotations") or {}).get(REVISION)
    found = [
        r
        for r in runs
        if (r["metadata"].get("labels") or {}).get(HASH_LABEL) == pod_hash
        and (revision is None or (r["metadata"].get("annotations") or {}).get(REVISION) == revision)
    ]
    return max(found, key=lambda r: str((r.get("status") or {}).get("startedAt", "")), default=None)


def measured(value: object) -> str:
    """A Prometheus measurement as Argo stores it (`[0.6666]`), for a person: `0.667`; `[]`: no data."""
    text = str(value or "").strip().strip("[]").strip()
    if not text:
        return "no data"
    try:
        return f"{float(text):.3g}"
    except ValueError:
        return text


def _metric(result: JSON, limits: Mapping[str, str]) -> str:
    name = result.get("name", "?")
    last = result.get("last") or {}
    if result.get("phase") == "Error" and result.get("message"):
        return f"{name} error: {result['message']}"
    text = f"{name} {measured(last.get('value'))}"
    if result.get("phase") in _BAD_PHASES:
        needs = f"needs {limits[name]}; " if name in limits else ""
        text += f" ({needs}{result.get('failed', 0)} of {result.get('count', 0)} measurements failed)"
    return text


def describe_run(run: JSON, limits: Mapping[str, str]) -> str:
    """`analysis <name> <outcome>: <metric> <last value>, ...`; a failed run names only what failed."""
    status = run.get("status") or {}
    phase = status.get("phase") or "Pending"
    results = status.get("metricResults") or []
    if phase in _BAD_PHASES:
        results = [r for r in results if r.get("phase") in _BAD_PHASES] or results
    order = list(limits)  # the template's order (Argo lists results in the order they were first measured)
    results = sorted(results, key=lambda r: order.index(r["name"]) if r.get("name") in order else len(order))
    outcome = {"Successful": "passed", "Failed": "failed", "Error": "failed"}.get(phase, phase.lower())
    metrics = ", ".join(_metric(r, limits) for r in results)
    if not metrics and status.get("message"):
        metrics = str(status["message"])
    return f"analysis {run['metadata']['name']} {outcome}" + (f": {metrics}" if metrics else "")


def aborted(rollout: JSON) -> bool:
    status = rollout.get("status") or {}
    return bool(status.get("abort")) or str(status.get("message", "")).startswith("RolloutAborted")


def canary_verdict(
    rollout: JSON | None,
    runs: Sequence[JSON],
    *,
    steps: int,
    limits: Mapping[str, str],
    previous_reason: str | None,
) -> CanaryVerdict:
    """The canary's condition. With analysis, "promoted" needs the run that judged the new stable pods;
    without, it rests on having seen the canary in progress (`previous_reason`), so there a canary
    abandoned by reverting the image mid-way also reads as promoted."""
    if rollout is None or rollout.get("kind") != "Rollout":
        return CanaryVerdict(False, STABLE, "no canary in progress")
    status = rollout.get("status") or {}
    current, stable = status.get("currentPodHash"), status.get("stableRS")
    if aborted(rollout):
        run = judged_run(rollout, runs, current)
        why = describe_run(run, limits) if run else str(status.get("message") or "aborted")
        return CanaryVerdict(
            False,
            ABORTED,
            f"canary aborted: {why}; the stable version ({stable}) serves, revert the image to roll back",
        )
    moving, message = canary_state(rollout, steps)
    if moving:
        run = judged_run(rollout, runs, current)
        return CanaryVerdict(True, IN_PROGRESS, message + (f"; {describe_run(run, limits)}" if run else ""))
    if status.get("phase") == "Healthy" and stable and stable == current:
        run = judged_run(rollout, runs, stable)
        revision = (rollout["metadata"].get("annotations") or {}).get(REVISION, "?")
        promoted = f"canary promoted: revision {revision} ({stable}) is stable"
        if run is not None:
            if (run.get("status") or {}).get("phase", "Running") in ("Running", "Pending"):
                # Argo ends the background run as it promotes; the run's verdict follows in a moment.
                return CanaryVerdict(True, IN_PROGRESS, f"{promoted}; {describe_run(run, limits)}")
            return CanaryVerdict(False, PROMOTED, f"{promoted}; {describe_run(run, limits)}")
        if previous_reason == PROMOTED or (previous_reason == IN_PROGRESS and not limits):
            return CanaryVerdict(False, PROMOTED, promoted)
    return CanaryVerdict(False, STABLE, "no canary in progress")


def stack_canary(spec: WebStackSpec, observed: Observed, previous_reason: str | None) -> CanaryVerdict | None:
    """The canary of a stack whose spec asks for one (None when it does not); without Argo Rollouts the
    backend is a Deployment, and the verdict says so. `previous_reason`: the stored condition's."""
    if spec.backend.delivery.strategy != "Canary":
        return None
    if not observed.rollouts_available:
        message = "Argo Rollouts is not installed: the backend runs as a Deployment with a rolling update"
        return CanaryVerdict(False, NO_ARGO_ROLLOUTS, message)
    return canary_verdict(
        observed.backend,
        observed.analysis_runs,
        steps=len(spec.backend.delivery.steps or ()),
        limits=analysis_limits(spec),
        previous_reason=previous_reason,
    )


def canary_condition(verdict: CanaryVerdict | None, cond: ConditionMaker) -> list[JSON]:
    """`CanaryProgressing`, for a stack that asks for a canary."""
    if verdict is None:
        return []
    return [cond("CanaryProgressing", verdict.moving, verdict.reason, verdict.message)]

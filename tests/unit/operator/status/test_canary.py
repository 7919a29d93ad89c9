"""status/canary.py: the CanaryProgressing verdict from a Rollout and its AnalysisRuns, shaped as Argo
Rollouts v1.10 writes them (the statuses below were seen in
tests/integration/operator/test_canary_analysis.py), slimmed as the cache keeps them."""

from __future__ import annotations

from typing import Any

from webstack_operator.api.spec import parse_spec
from webstack_operator.objects.labels import BACKEND, standard_labels
from webstack_operator.observe.cache import slim
from webstack_operator.reconcile.decisions import canary_events
from webstack_operator.status.canary import (
    ABORTED,
    IN_PROGRESS,
    PROMOTED,
    STABLE,
    analysis_limits,
    canary_verdict,
    describe_run,
    measured,
)

LIMITS = {"success-rate": ">= 0.95", "p95-latency": "<= 2s"}
ABORT_MESSAGE = (
    "RolloutAborted: Rollout aborted update to revision 2: Background analysis phase error/failed: "
    'Metric "success-rate" assessed Failed due to failed (2) > failureLimit (1)'
)


def _rollout(phase: str, stable: str, current: str, revision: str = "2", **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {
            "name": "shop-backend",
            "namespace": "team",
            "annotations": {"rollout.argoproj.io/revision": revision},
        },
        "status": {"phase": phase, "stableRS": stable, "currentPodHash": current, "canary": {}, **status},
    }


def _measurement(phase: str, value: str) -> dict[str, str]:
    return {"phase": phase, "value": value, "startedAt": "t", "finishedAt": "t"}


def _run(
    pod_hash: str, phase: str, *, revision: str = "2", **results: list[dict[str, str]]
) -> dict[str, Any]:
    metric_results = []
    for name, measurements in results.items():
        failed = sum(1 for m in measurements if m["phase"] == "Failed")
        metric_phase = "Failed" if failed > 1 else ("Running" if phase == "Running" else "Successful")
        metric_results.append(
            {
                "name": name.replace("_", "-"),
                "phase": metric_phase,
                "count": len(measurements),
                "failed": failed,
                "measurements": measurements,
            }
        )
    run = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "AnalysisRun",
        "metadata": {
            "name": f"shop-backend-{pod_hash}-{revision}",
            "namespace": "team",
            "labels": {
                **standard_labels("shop", BACKEND),
                "rollouts-pod-template-hash": pod_hash,
                "rollout-type": "Background",
            },
            "annotations": {"rollout.argoproj.io/revision": revision},
        },
        "status": {"phase": phase, "startedAt": "2026-12-02T08:20:15Z", "metricResults": metric_results},
    }
    return slim(run)  # as the cache holds it


def _verdict(rollout: dict[str, Any] | None, *runs: dict[str, Any], previous: str | None = None) -> Any:
    return canary_verdict(rollout, runs, steps=2, limits=LIMITS, previous_reason=previous)


def test_an_aborted_canary_names_the_run_the_metric_and_the_value() -> None:
    failed = _run(
        "bbb",
        "Failed",
        success_rate=[_measurement("Failed", "[0.6666666666666666]")] * 2,
        p95_latency=[_measurement("Successful", "[0.03125]")] * 2,
    )
    rollout = _rollout("Degraded", "aaa", "bbb", abort=True, message=ABORT_MESSAGE)
    verdict = _verdict(rollout, failed)
    assert (verdict.moving, verdict.reason) == (False, ABORTED)
    assert verdict.message.startswith(
        "canary aborted: analysis shop-backend-bbb-2 failed: success-rate 0.667 "
        "(needs >= 0.95; 2 of 2 measurements failed)"
    )
    assert "p95-latency" not in verdict.message  # what passed is not why it failed
    assert "(aaa) serves" in verdict.message


def test_an_abort_without_its_run_still_says_why() -> None:
    verdict = _verdict(_rollout("Degraded", "aaa", "bbb", abort=True, message=ABORT_MESSAGE))
    assert verdict.reason == ABORTED and "failureLimit (1)" in verdict.message


def test_a_run_of_another_hash_or_revision_is_not_the_judge() -> None:
    older = _run("bbb", "Failed", revision="1", success_rate=[_measurement("Failed", "[0.5]")] * 2)
    other = _run("ccc", "Failed", success_rate=[_measurement("Failed", "[0.1]")] * 2)
    verdict = _verdict(_rollout("Degraded", "aaa", "bbb", abort=True, message=ABORT_MESSAGE), older, other)
    assert "shop-backend-" not in verdict.message and "failureLimit (1)" in verdict.message
    # A rollback to an older ReplicaSet is a new revision: that ReplicaSet's old successful run does not
    # make it a promoted canary.
    passed_long_ago = _run(
        "aaa", "Successful", revision="1", success_rate=[_measurement("Successful", "[1]")]
    )
    back = _verdict(_rollout("Healthy", "aaa", "aaa", revision="3"), passed_long_ago, previous=IN_PROGRESS)
    assert back.reason == STABLE


def test_a_canary_in_progress_shows_its_step_and_running_analysis() -> None:
    running = _run("bbb", "Running", success_rate=[_measurement("Successful", "[1]")])
    rollout = _rollout("Paused", "aaa", "bbb", currentStepIndex=1, pauseConditions=[{"reason": "PauseStep"}])
    verdict = _verdict(rollout, running)
    assert (verdict.moving, verdict.reason) == (True, IN_PROGRESS)
    assert "step 1/2, paused" in verdict.message
    assert verdict.message.endswith("analysis shop-backend-bbb-2 running: success-rate 1")


def test_a_promoted_canary_says_so_with_what_its_analysis_measured() -> None:
    passed = _run(
        "bbb",
        "Successful",
        p95_latency=[_measurement("Successful", "[0.005124999999999994]")],
        success_rate=[_measurement("Inconclusive", "[]"), _measurement("Successful", "[1]")],
    )
    verdict = _verdict(_rollout("Healthy", "bbb", "bbb"), passed)
    assert (verdict.moving, verdict.reason) == (False, PROMOTED)
    assert verdict.message == (
        "canary promoted: revision 2 (bbb) is stable; "
        "analysis shop-backend-bbb-2 passed: success-rate 1, p95-latency 0.00512"
    )
    # Promoted before the run's verdict arrived: still in progress, not "Stable" for a moment.
    ending = _run("bbb", "Running", success_rate=[_measurement("Successful", "[1]")])
    assert _verdict(_rollout("Healthy", "bbb", "bbb"), ending).reason == IN_PROGRESS


def test_without_analysis_promotion_rests_on_having_seen_the_canary() -> None:
    healthy = _rollout("Healthy", "bbb", "bbb")
    no_limits = canary_verdict(healthy, (), steps=2, limits={}, previous_reason=IN_PROGRESS)
    assert no_limits.reason == PROMOTED and no_limits.message == "canary promoted: revision 2 (bbb) is stable"
    assert canary_verdict(healthy, (), steps=2, limits={}, previous_reason=PROMOTED).reason == PROMOTED
    assert canary_verdict(healthy, (), steps=2, limits={}, previous_reason=None).reason == STABLE
    # With analysis, having seen it move is not enough: a revert mid-way is no promotion.
    assert _verdict(healthy, previous=IN_PROGRESS).reason == STABLE
    assert _verdict(None).reason == STABLE


def test_measurements_read_as_numbers() -> None:
    assert measured("[0.6666666666666666]") == "0.667"
    assert measured("[]") == "no data"
    assert measured(None) == "no data"
    assert measured("[NaN]") == "nan"
    errored = {
        "metadata": {"name": "run"},
        "status": {
            "phase": "Error",
            "metricResults": [{"name": "success-rate", "phase": "Error", "message": "connection refused"}],
        },
    }
    assert describe_run(errored, LIMITS) == "analysis run failed: success-rate error: connection refused"


def test_limits_come_from_the_spec() -> None:
    spec = parse_spec(
        {
            "spec": {
                "backend": {
                    "image": "example.com/users-api:1.0.0",
                    "delivery": {
                        "strategy": "Canary",
                        "steps": [{"setWeight": 20}],
                        "analysis": {"prometheusAddress": "http://p:9090", "minSuccessRate": 0.995},
                    },
                }
            }
        }
    )
    assert analysis_limits(spec) == {"success-rate": ">= 0.995", "p95-latency": "<= 0.5s"}


def _status(reason: str, message: str = "m") -> dict[str, Any]:
    return {"conditions": [{"type": "CanaryProgressing", "reason": reason, "message": message}]}


def test_one_event_when_a_canary_starts_is_aborted_or_is_promoted() -> None:
    [started] = canary_events(_status(STABLE), _status(IN_PROGRESS, "canary at step 0/2"))
    assert (started.type, started.reason) == ("Normal", "CanaryStarted")
    [aborted] = canary_events(_status(IN_PROGRESS), _status(ABORTED, "canary aborted: x"))
    assert (aborted.type, aborted.reason, aborted.message) == (
        "Warning",
        "CanaryAborted",
        "canary aborted: x",
    )
    [promoted] = canary_events({}, _status(PROMOTED))
    assert (promoted.type, promoted.reason) == ("Normal", "CanaryPromoted")
    assert canary_events(_status(ABORTED), _status(ABORTED, "canary aborted: y")) == []
    assert canary_events(_status(IN_PROGRESS), _status(STABLE)) == []


def test_the_cache_keeps_a_runs_verdict_and_last_measurements_only() -> None:
    run = _run(
        "bbb", "Failed", success_rate=[_measurement("Successful", "[1]"), _measurement("Failed", "[0.5]")]
    )
    [metric] = run["status"]["metricResults"]
    assert metric["last"] == {"phase": "Failed", "value": "[0.5]", "finishedAt": "t"}
    assert "measurements" not in metric
    assert run["metadata"]["labels"]["rollouts-pod-template-hash"] == "bbb"
    assert run["metadata"]["annotations"] == {"rollout.argoproj.io/revision": "2"}


def test_a_first_rollout_is_no_canary() -> None:
    first = _rollout("Progressing", "aaa", "aaa", currentStepIndex=2, message="more replicas to update")
    assert _verdict(first).reason == STABLE
    starting = _rollout("Progressing", "aaa", "aaa", currentStepIndex=0)  # before Argo names the new hash
    assert _verdict(starting).reason == IN_PROGRESS


def test_a_new_rollouts_first_status_is_no_canary_start() -> None:
    """Argo's first status of a new Rollout can read step 0, Progressing: no CanaryStarted for it."""
    no_stable_yet = _rollout("Progressing", "", "aaa", revision="1", currentStepIndex=0)
    assert _verdict(no_stable_yet).reason == STABLE
    first_revision = _rollout("Progressing", "aaa", "aaa", revision="1", currentStepIndex=0)
    assert _verdict(first_revision).reason == STABLE


def test_the_stacks_canary_without_argo_rollouts_says_the_backend_is_a_deployment() -> None:
    from webstack_operator.status.canary import NO_ARGO_ROLLOUTS, canary_condition, stack_canary
    from webstack_operator.status.conditions import ConditionMaker
    from webstack_operator.status.observed import Observed

    plain: dict[str, Any] = {"image": "example.com/users-api:1.0.0"}
    delivery = {"strategy": "Canary", "steps": [{"setWeight": 20}]}
    canary = parse_spec({"spec": {"backend": {**plain, "delivery": delivery}}})
    cond = ConditionMaker.after({}, "2026-11-26T00:00:00Z", 1)
    assert stack_canary(parse_spec({"spec": {"backend": plain}}), Observed(generation=1), None) is None
    assert canary_condition(None, cond) == []
    missing = stack_canary(canary, Observed(generation=1, rollouts_available=False), PROMOTED)
    assert missing is not None and (missing.moving, missing.reason) == (False, NO_ARGO_ROLLOUTS)
    [condition] = canary_condition(missing, cond)
    assert (condition["type"], condition["status"]) == ("CanaryProgressing", "False")
    assert "runs as a Deployment" in condition["message"]


def test_the_stacks_canary_passes_the_stored_reason_on() -> None:
    """Without analysis, a promotion rests on the stored reason: having seen the canary in progress."""
    from webstack_operator.status.canary import stack_canary
    from webstack_operator.status.observed import Observed

    delivery = {"strategy": "Canary", "steps": [{"setWeight": 20}]}
    canary = parse_spec({"spec": {"backend": {"image": "example.com/users-api:1.0.0", "delivery": delivery}}})
    promoted = Observed(generation=1, backend=_rollout("Healthy", "aaa", "aaa"))
    verdicts = [stack_canary(canary, promoted, before) for before in (IN_PROGRESS, None)]
    assert [v.reason if v else None for v in verdicts] == [PROMOTED, STABLE]

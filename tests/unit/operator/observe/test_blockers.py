"""blockers.py: each child's own failure reason, read from the object that states it."""

from __future__ import annotations

from typing import Any

from webstack_operator.api.problem import Problem
from webstack_operator.observe.blockers import (
    FailedCreate,
    claim_problem,
    component_blocker,
    deadline_exceeded,
    pod_problem,
    statefulset_failure,
    workload_failure,
)

FORBIDDEN = 'pods "shop-backend-7d9c-x" is forbidden: no PriorityClass with name webstack-high was found'


def _pod(status: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "shop-backend-7d9c-x", **meta},
        "status": status,
    }


def _waiting(reason: str, message: str = "", **extra: Any) -> dict[str, Any]:
    state = {"waiting": {"reason": reason, **({"message": message} if message else {})}}
    return {"containerStatuses": [{"name": "users-api", "state": state, **extra}]}


def _workload(kind: str, conditions: list[dict[str, Any]], **status: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": "shop-backend", "uid": "u1"},
        "spec": {"replicas": 3},
        "status": {"conditions": conditions, **status},
    }


def test_an_unschedulable_pod_says_why_in_the_schedulers_words() -> None:
    scheduled = {"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes"}
    problem = pod_problem(_pod({"phase": "Pending", "conditions": [scheduled]}))
    assert problem == Problem("Unschedulable", "pod shop-backend-7d9c-x cannot be scheduled: 0/2 nodes")


def test_image_pull_and_crash_loop_name_the_container() -> None:
    pull = pod_problem(_pod(_waiting("ImagePullBackOff", 'Back-off pulling image "x:1"')))
    assert pull == Problem(
        "ImagePullBackOff",
        'pod shop-backend-7d9c-x container users-api is in ImagePullBackOff: Back-off pulling image "x:1"',
    )
    assert pod_problem(_pod(_waiting("ErrImagePull"))) == Problem(
        "ErrImagePull", "pod shop-backend-7d9c-x container users-api is in ErrImagePull"
    )
    crash = pod_problem(
        _pod(_waiting("CrashLoopBackOff", lastState={"terminated": {"exitCode": 1, "reason": "Error"}}))
    )
    assert crash is not None and crash.reason == "CrashLoopBackOff"
    assert crash.message.endswith("is in CrashLoopBackOff: last exit code 1 (Error)")


def test_pods_that_will_get_there_by_themselves_have_no_problem() -> None:
    assert pod_problem(_pod(_waiting("ContainerCreating"))) is None
    assert (
        pod_problem(_pod({"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]})) is None
    )
    going = _pod(_waiting("CrashLoopBackOff"), deletionTimestamp="2026-01-01T00:00:00Z")
    assert pod_problem(going) is None


def test_a_pending_claim_names_its_storage_class() -> None:
    claim = {
        "metadata": {"name": "data-shop-postgres-0"},
        "spec": {"storageClassName": "gp3"},
        "status": {"phase": "Pending"},
    }
    problem = claim_problem(claim)
    assert problem is not None and problem.reason == "ClaimPending"
    assert "data-shop-postgres-0" in problem.message and "StorageClass gp3" in problem.message
    assert claim_problem({**claim, "status": {"phase": "Bound"}}) is None
    default = claim_problem({"metadata": {"name": "d"}, "spec": {}, "status": {}})
    assert default is not None and "the cluster's default" in default.message


def test_replica_failure_of_a_deployment_or_rollout_is_its_own_words() -> None:
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": FORBIDDEN}
    for kind in ("Deployment", "Rollout"):
        assert workload_failure(_workload(kind, [failure])) == Problem(
            "FailedCreate", f"{kind} shop-backend: {FORBIDDEN}"
        )
    assert workload_failure(_workload("Deployment", [{**failure, "status": "False"}])) is None


def test_a_passed_progress_deadline_is_reported() -> None:
    stuck = {
        "type": "Progressing",
        "status": "False",
        "reason": "ProgressDeadlineExceeded",
        "message": "slow",
    }
    assert deadline_exceeded(_workload("Deployment", [stuck])) == Problem(
        "ProgressDeadlineExceeded", "Deployment shop-backend: slow"
    )
    assert deadline_exceeded(_workload("Deployment", [{**stuck, "status": "True"}])) is None


def test_a_statefulsets_failed_create_counts_while_it_lacks_pods_and_only_for_itself() -> None:
    sts = {**_workload("StatefulSet", [], replicas=0), "spec": {"replicas": 1}}
    failed = FailedCreate("u1", "create Pod shop-postgres-0 failed error: forbidden", "2026-01-01T00:00:00Z")
    assert statefulset_failure(sts, failed) == Problem(
        "FailedCreate", "StatefulSet shop-backend: create Pod shop-postgres-0 failed error: forbidden"
    )
    assert statefulset_failure(sts, FailedCreate("old-uid", "x", "")) is None  # an earlier StatefulSet's
    created = {**sts, "status": {"replicas": 1}}
    assert statefulset_failure(created, failed) is None  # the pod exists now: the failure is over


def test_the_component_blocker_prefers_the_workloads_own_failure_then_pods_then_the_deadline() -> None:
    stuck = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded", "message": "m"}
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": FORBIDDEN}
    pods = [Problem("ImagePullBackOff", "pod a"), Problem("CrashLoopBackOff", "pod b")]
    assert component_blocker(None, pods) is None
    assert component_blocker(_workload("Deployment", [stuck, failure]), pods).reason == "FailedCreate"  # type: ignore[union-attr]
    assert component_blocker(_workload("Deployment", [stuck]), pods) == Problem(
        "ImagePullBackOff", "pod a (and 1 more)"
    )
    assert component_blocker(_workload("Deployment", [stuck]), []) == deadline_exceeded(
        _workload("Deployment", [stuck])
    )
    assert component_blocker(_workload("Deployment", []), []) is None

"""compute_status: pure rules from observed children to phase, components and conditions."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import parse_spec
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.observe.blockers import FailedCreate
from webstack_operator.observe.prerequisites import PrerequisiteCheck
from webstack_operator.status.canary import canary_state
from webstack_operator.status.compute import (
    Observed,
    compute_status,
    observe,
    status_changed,
    status_patch,
    workload_readiness,
)

NOW = "2026-11-26T00:00:00Z"
LATER = "2026-11-26T00:05:00Z"


def _spec(**extra: Any) -> Any:
    spec: dict[str, Any] = {"backend": {"image": "example.com/users-api:1.0.0"}, **extra}
    return parse_spec({"spec": spec})


def _deployment(
    name: str, ready: int, desired: int = 2, generation: int = 1, observed: int = 1, kind: str = "Deployment"
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "generation": generation},
        "spec": {
            "replicas": desired,
            "template": {"spec": {"containers": [{"name": "c", "image": f"{name}:1"}]}},
        },
        "status": {
            "observedGeneration": observed,
            "availableReplicas": ready,
            "readyReplicas": ready,
            "updatedReplicas": ready,
        },
    }


def _all_ready(generation: int = 1) -> Observed:
    return Observed(
        generation=generation,
        backend=_deployment("backend", 2),
        frontend=_deployment("frontend", 2),
        database=_deployment("postgres", 1, 1, kind="StatefulSet"),
        cache=_deployment("redis", 1, 1),
    )


def _cond(status: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == ctype)


def test_all_components_ready_gives_ready_phase_and_counts() -> None:
    status = compute_status(_spec(), _all_ready(), None, NOW)
    assert status["phase"] == "Ready"
    assert status["readyComponents"] == "4/4"
    assert status["components"]["backend"] == {"ready": 2, "desired": 2, "image": "backend:1"}
    assert _cond(status, "Ready")["status"] == "True"
    assert _cond(status, "Reconciled")["reason"] == "Applied"
    assert status["observedGeneration"] == 1


def test_missing_or_unready_component_is_progressing_and_named() -> None:
    observed = Observed(
        generation=1,
        backend=_deployment("backend", 1),
        frontend=None,
        database=_deployment("postgres", 1, 1, kind="StatefulSet"),
        cache=_deployment("redis", 1, 1),
    )
    status = compute_status(_spec(), observed, None, NOW)
    assert status["phase"] == "Progressing"
    assert status["readyComponents"] == "2/4"
    ready = _cond(status, "Ready")
    assert (
        ready["status"] == "False"
        and "BackendAvailable" in ready["message"]
        and "FrontendAvailable" in ready["message"]
    )
    assert _cond(status, "FrontendAvailable")["reason"] == "NotFound"


def test_unobserved_generation_is_not_ready() -> None:
    observed = Observed(
        generation=1,
        backend=_deployment("backend", 2, generation=2, observed=1),
        frontend=_deployment("frontend", 2),
        database=_deployment("postgres", 1, 1, kind="StatefulSet"),
        cache=_deployment("redis", 1, 1),
    )
    status = compute_status(_spec(), observed, None, NOW)
    assert _cond(status, "BackendAvailable")["status"] == "False"
    assert "not yet observed" in _cond(status, "BackendAvailable")["message"]


def test_last_transition_time_moves_only_on_transition() -> None:
    first = compute_status(_spec(), _all_ready(), None, NOW)
    second = compute_status(_spec(), _all_ready(), first, LATER)
    assert _cond(second, "Ready")["lastTransitionTime"] == NOW
    assert not status_changed(first, second)
    broken = Observed(
        generation=1,
        backend=_deployment("backend", 0),
        frontend=_deployment("frontend", 2),
        database=_deployment("postgres", 1, 1, kind="StatefulSet"),
        cache=_deployment("redis", 1, 1),
    )
    third = compute_status(_spec(), broken, second, LATER)
    assert _cond(third, "Ready")["lastTransitionTime"] == LATER
    assert third["phase"] == "Degraded"  # it was Ready at this generation and lost a component
    assert status_changed(second, third)


def test_external_database_and_disabled_cache_are_not_counted() -> None:
    spec = _spec(
        database={"mode": "External", "credentials": {"secretRef": {"name": "rds"}}},
        cache={"mode": "Disabled"},
    )
    observed = Observed(generation=3, backend=_deployment("backend", 2), frontend=_deployment("frontend", 2))
    status = compute_status(spec, observed, None, NOW)
    assert status["phase"] == "Ready"
    assert status["readyComponents"] == "2/2"
    assert _cond(status, "DatabaseReady")["reason"] == "External"
    assert _cond(status, "CacheReady")["reason"] == "Disabled"
    assert set(status["components"]) == {"backend", "frontend"}


def test_paused_and_problem_and_invalid() -> None:
    paused = compute_status(_spec(paused=True), _all_ready(), None, NOW)
    assert paused["phase"] == "Paused"
    assert _cond(paused, "Reconciled")["reason"] == "Paused"
    problem = Observed(**{**_all_ready().__dict__, "problem": Problem("ApplyFailed", "boom")})
    degraded = compute_status(_spec(), problem, None, NOW)
    assert degraded["phase"] == "Degraded" and _cond(degraded, "Reconciled")["message"] == "boom"


def test_missing_optional_apis_say_so() -> None:
    spec = _spec(
        backend={
            "image": "example.com/users-api:1.0.0",
            "delivery": {"strategy": "Canary", "steps": [{"setWeight": 20}, {"pause": {}}]},
        },
        backup={"enabled": True},
    )
    observed = Observed(
        **{
            **_all_ready().__dict__,
            "rollouts_available": False,
            "monitoring_available": False,
            "velero_available": False,
        }
    )
    status = compute_status(spec, observed, None, NOW)
    assert _cond(status, "CanaryProgressing")["reason"] == "ArgoRolloutsNotInstalled"
    assert "Deployment" in _cond(status, "CanaryProgressing")["message"]
    assert _cond(status, "MonitoringConfigured")["reason"] == "PrometheusOperatorNotInstalled"
    assert _cond(status, "BackupConfigured")["reason"] == "VeleroNotInstalled"
    assert status["phase"] == "Ready"  # skipping optional objects does not make the stack unready


def _rollout(phase: str, stable: str, current: str, step: int | None = None, **status: Any) -> dict[str, Any]:
    body = _deployment("backend", 2, kind="Rollout")
    body["apiVersion"] = "argoproj.io/v1alpha1"
    body["status"].update({"phase": phase, "stableRS": stable, "currentPodHash": current, **status})
    if step is not None:
        body["status"]["currentStepIndex"] = step
    return body


def test_canary_progress_is_reported_from_the_rollout() -> None:
    moving, message = canary_state(
        _rollout("Paused", "aaa", "bbb", 1, pauseConditions=[{"reason": "CanaryPauseStep"}]), 4
    )
    assert moving and "step 1/4" in message and "paused" in message
    assert canary_state(_rollout("Healthy", "aaa", "aaa", 4), 4) == (False, "")
    readiness = workload_readiness(_rollout("Progressing", "aaa", "bbb", 0))
    assert readiness is not None and not readiness.done
    healthy = workload_readiness(_rollout("Healthy", "aaa", "aaa", 4))
    assert healthy is not None and healthy.done


def test_the_patch_removes_components_and_fields_that_no_longer_exist() -> None:
    old = {
        "phase": "Ready",
        "url": "http://shop",
        "components": {"backend": {"ready": 1, "desired": 1}, "cache": {"ready": 1, "desired": 1}},
    }
    new = {"phase": "Ready", "components": {"backend": {"ready": 1, "desired": 1}}}
    patch = status_patch(old, new)
    assert patch == {
        "phase": "Ready",
        "url": None,
        "components": {"backend": {"ready": 1, "desired": 1}, "cache": None},
    }
    assert status_patch(new, new) == new


def test_the_patch_removes_what_a_failed_drill_no_longer_has_from_the_last_drill() -> None:
    passed = {
        "id": "a",
        "result": "Succeeded",
        "rpoSeconds": 42.0,
        "rtoSeconds": 8.0,
        "tables": [{"name": "t"}],
    }
    failed = {"id": "b", "result": "Failed", "reason": "CorruptDump"}
    patch = status_patch({"backup": {"lastDrill": passed}}, {"backup": {"lastDrill": failed}})
    assert patch["backup"]["lastDrill"] == {**failed, "rpoSeconds": None, "rtoSeconds": None, "tables": None}


def test_missing_credentials_make_the_database_not_ready_with_their_reason() -> None:
    problem = Problem("CredentialsMissing", "Secret shop-postgres is missing")
    status = compute_status(_spec(), Observed(generation=1, database_problem=problem), None, NOW)
    conditions = {c["type"]: c for c in status["conditions"]}
    assert conditions["DatabaseReady"]["status"] == "False"
    assert conditions["DatabaseReady"]["reason"] == "CredentialsMissing"
    assert conditions["Ready"]["reason"] == "CredentialsMissing"
    assert status["phase"] == "Progressing"


def _policy(name: str) -> dict[str, Any]:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": name}}


def test_network_policies_applied_counts_the_rendered_policies_seen_in_the_cluster() -> None:
    from webstack_operator.config.operator_settings import Capabilities
    from webstack_operator.status.compute import observe

    names = frozenset({"shop-default-deny", "shop-backend", "shop-frontend"})

    def condition(children: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
        observed = observe(
            children,
            _spec(**spec),
            name="shop",
            generation=1,
            capabilities=Capabilities(),
            problem=None,
            url=None,
            network_policies=names if not spec else frozenset(),
        )
        return _cond(compute_status(_spec(**spec), observed, None, NOW), "NetworkPoliciesApplied")

    some = condition([_policy("shop-default-deny"), _policy("other-backend"), _policy("shop-backend")])
    assert (some["status"], some["reason"], some["message"]) == (
        "False",
        "NotApplied",
        "2 of 3 NetworkPolicies applied",
    )
    every = condition([_policy(n) for n in names])
    assert (every["status"], every["reason"]) == ("True", "Applied")
    assert (
        every["message"].startswith("3 NetworkPolicies applied") and "enableNetworkPolicy" in every["message"]
    )
    off = condition([], security={"networkPolicies": False})
    assert (off["status"], off["reason"]) == ("False", "Disabled")
    # Informational: the stack's readiness does not wait for it.
    assert compute_status(_spec(), _all_ready(), None, NOW)["phase"] == "Ready"


def _velero_backup(name: str, phase: str, completed: str) -> dict[str, Any]:
    started = completed.replace(":05:", ":00:")
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {"name": name, "namespace": "velero", "creationTimestamp": started},
        "status": {"phase": phase, "startTimestamp": started, "completionTimestamp": completed},
    }


def test_backup_health_is_a_condition_and_status_fields_and_leaves_when_backups_are_off() -> None:
    spec = _spec(backup={"enabled": True, "schedule": "0 */6 * * *"})
    schedule = {"kind": "Schedule", "metadata": {"name": "s", "creationTimestamp": "2026-11-20T00:00:00Z"}}
    good = _velero_backup("b1", "Completed", "2026-11-25T23:05:00Z")
    observed = Observed(**{**_all_ready().__dict__, "schedule": schedule, "backups": (good,)})
    status = compute_status(spec, observed, None, NOW)
    assert _cond(status, "BackupHealthy")["status"] == "True"
    assert status["backup"]["lastSuccessfulTime"] == "2026-11-25T23:05:00Z"
    assert status["phase"] == "Ready"

    bad = _velero_backup("b2", "Failed", "2026-11-25T23:55:00Z")
    failing = Observed(**{**observed.__dict__, "backups": (good, bad)})
    status = compute_status(spec, failing, status, LATER)
    healthy = _cond(status, "BackupHealthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "BackupFailed")
    assert status["phase"] == "Ready"  # the stack serves; the alert and the condition say what is wrong

    off = compute_status(_spec(), _all_ready(), status, LATER)
    assert all(c["type"] != "BackupHealthy" for c in off["conditions"])
    assert status_patch(status, off)["backup"] is None


# ------------------------------------------------------------------ the blocker: each child's own reason
FORBIDDEN = 'pods "backend-x" is forbidden: no PriorityClass with name webstack-high was found'


def _failing(obj: dict[str, Any], **condition: Any) -> dict[str, Any]:
    return {**obj, "status": {**obj["status"], "conditions": [condition]}}


def test_a_workloads_replica_failure_names_the_blocker_in_condition_reason_and_one_line() -> None:
    backend = _failing(
        _deployment("backend", 0, 3),
        type="ReplicaFailure",
        status="True",
        reason="FailedCreate",
        message=FORBIDDEN,
    )
    status = compute_status(_spec(), replace(_all_ready(), backend=backend), None, NOW)
    available = _cond(status, "BackendAvailable")
    assert (available["status"], available["reason"]) == ("False", "FailedCreate")
    assert available["message"] == f"backend: 0/3 available; Deployment backend: {FORBIDDEN}"
    assert _cond(status, "Ready")["reason"] == "FailedCreate" and status["reason"] == "FailedCreate"
    assert status["blocker"] == f"backend: Deployment backend: {FORBIDDEN}"
    assert status["phase"] == "Progressing"


def test_pod_problems_name_the_component_they_belong_to() -> None:
    observed = replace(
        _all_ready(),
        frontend=_deployment("frontend", 0),
        problems={
            "frontend": [Problem("ImagePullBackOff", "pod frontend-x container nginx is in ImagePullBackOff")]
        },
    )
    status = compute_status(_spec(), observed, None, NOW)
    assert _cond(status, "FrontendAvailable")["reason"] == "ImagePullBackOff"
    assert _cond(status, "BackendAvailable")["reason"] == "Available"
    assert status["blocker"] == "frontend: pod frontend-x container nginx is in ImagePullBackOff"


def test_a_statefulsets_failed_create_reaches_the_database_condition_through_observe() -> None:
    sts = {
        **_deployment("shop-postgres", 0, 1, kind="StatefulSet"),
        "metadata": {"name": "shop-postgres", "generation": 1, "uid": "u1", "resourceVersion": "5"},
    }
    sts["status"]["replicas"] = 0
    children = [
        {**_deployment("shop-backend", 2), "metadata": {"name": "shop-backend", "generation": 1}},
        {**_deployment("shop-frontend", 2), "metadata": {"name": "shop-frontend", "generation": 1}},
        {**_deployment("shop-redis", 1, 1), "metadata": {"name": "shop-redis", "generation": 1}},
        sts,
    ]
    spec = _spec(backend={"image": "example.com/users-api:1.0.0", "delivery": {"strategy": "RollingUpdate"}})
    failed = FailedCreate(
        "u1", f"create Pod shop-postgres-0 in StatefulSet shop-postgres failed error: {FORBIDDEN}", "t"
    )
    observed = observe(
        children,
        spec,
        name="shop",
        generation=1,
        capabilities=Capabilities(),
        problem=None,
        url=None,
        failed_creates={"shop-postgres": failed},
    )
    status = compute_status(spec, observed, None, NOW)
    assert _cond(status, "DatabaseReady")["reason"] == "FailedCreate"
    assert status["blocker"] == f"Postgres: StatefulSet shop-postgres: {failed.message}"


def test_a_missing_prerequisite_is_named_at_once_and_comes_first_when_pods_wait_for_it() -> None:
    missing = Problem("PriorityClassNotFound", "spec.security.priorityClassName names the PriorityClass x")
    not_ready = replace(
        _all_ready(), backend=_deployment("backend", 0), prerequisites=PrerequisiteCheck(missing=(missing,))
    )
    status = compute_status(_spec(), not_ready, None, NOW)
    prerequisites = _cond(status, "Prerequisites")
    assert (prerequisites["status"], prerequisites["reason"]) == ("False", "PriorityClassNotFound")
    assert status["reason"] == "PriorityClassNotFound"
    assert status["blocker"] == f"prerequisites: {missing.message}"
    # A missing IngressClass keeps no pod from running: it is said, but the stack's pods decide Ready.
    ingress = Problem("IngressClassNotFound", "spec.ingress.className names the IngressClass alb")
    ready = compute_status(
        _spec(), replace(_all_ready(), prerequisites=PrerequisiteCheck(missing=(ingress,))), None, NOW
    )
    assert ready["phase"] == "Ready" and "blocker" not in ready
    assert _cond(ready, "Prerequisites")["reason"] == "IngressClassNotFound"
    waiting = compute_status(
        _spec(),
        replace(
            _all_ready(),
            backend=_deployment("backend", 1),
            prerequisites=PrerequisiteCheck(missing=(ingress,)),
        ),
        None,
        NOW,
    )
    assert waiting["reason"] == "ComponentsNotReady" and waiting["blocker"] == "backend: 1/2 available"


def test_prerequisites_not_readable_are_unknown_not_missing() -> None:
    unknown = PrerequisiteCheck(unchecked=("PriorityClass webstack-high",), found=("IngressClass alb",))
    status = compute_status(_spec(), replace(_all_ready(), prerequisites=unknown), None, NOW)
    condition = _cond(status, "Prerequisites")
    assert (condition["status"], condition["reason"]) == ("Unknown", "NotChecked")
    assert (
        "found IngressClass alb" in condition["message"]
        and "PriorityClass webstack-high" in condition["message"]
    )
    assert _cond(compute_status(_spec(), _all_ready(), None, NOW), "Prerequisites")["status"] == "True"


def test_ready_says_so_and_the_patch_removes_a_blocker_that_is_gone() -> None:
    blocked = compute_status(_spec(), replace(_all_ready(), backend=_deployment("backend", 0)), None, NOW)
    ready = compute_status(_spec(), _all_ready(), blocked, LATER)
    assert ready["reason"] == "AllComponentsReady" and "blocker" not in ready
    assert status_patch(blocked, ready)["blocker"] is None
    assert status_changed(blocked, ready)


def test_the_blocker_is_one_bounded_line() -> None:
    long = Problem("CrashLoopBackOff", "pod b\ncontainer c:\n" + "x" * 2000)
    observed = replace(_all_ready(), backend=_deployment("backend", 0), problems={"backend": [long]})
    line = compute_status(_spec(), observed, None, NOW)["blocker"]
    assert "\n" not in line and len(line) == 512 and line.startswith("backend: pod b container c: xx")


def test_an_aborted_canary_degrades_the_stack_and_says_why() -> None:
    spec = _spec(
        backend={
            "image": "example.com/users-api:1.1.0",
            "delivery": {
                "strategy": "Canary",
                "steps": [{"setWeight": 50}],
                "analysis": {"prometheusAddress": "http://prometheus:9090"},
            },
        }
    )
    rollout = _rollout("Degraded", "aaa", "bbb", 0, abort=True, message="RolloutAborted: analysis failed")
    observed = Observed(**{**_all_ready().__dict__, "backend": rollout})
    status = compute_status(spec, observed, None, NOW)
    assert status["phase"] == "Degraded"
    ready, canary = _cond(status, "Ready"), _cond(status, "CanaryProgressing")
    assert (ready["reason"], canary["reason"], canary["status"]) == (
        "CanaryAborted",
        "CanaryAborted",
        "False",
    )
    assert ready["message"] == canary["message"]
    assert canary["message"].startswith("canary aborted: RolloutAborted: analysis failed")

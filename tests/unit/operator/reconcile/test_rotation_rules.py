"""The credentials rotation's state machine: its steps from the Secret, the Job and the backend, the Secret's
patches, and the invariant the whole design rests on: the password any backend pod uses is accepted by the
database at every step, failures included."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from tests.support.rendered_stacks import make_stack

from webstack_operator.builders.credentials_rotation import (
    NEXT_PASSWORD,
    NEXT_USERNAME,
    PREVIOUS_PASSWORD,
    PREVIOUS_USERNAME,
    rotation_job_name,
)
from webstack_operator.observe.cache import slim
from webstack_operator.reconcile import rotation_rules as rules
from webstack_operator.reconcile.credentials_rules import REGENERATED_FOR
from webstack_operator.reconcile.rotation_rules import Action, RotationPhase

CTX = make_stack()
OLD, NEW = "old-password-0123456789abcdef", "new-password-0123456789abcdef"
NOW = "2026-12-06T23:00:00Z"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def text(data: dict[str, Any], key: str) -> str:
    return base64.b64decode(data[key]).decode()


def merged(obj: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """A JSON merge patch applied as the apiserver does (null removes)."""
    out = copy.deepcopy(obj)
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, dict):
            out[key] = merged(out.get(key) or {}, value)
        else:
            out[key] = value
    return out


def secret(user: str = "webstack", password: str = OLD, **notes: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "shop-postgres", "namespace": "team-a", "annotations": dict(notes)},
        "data": {"username": b64(user), "password": b64(password), "database": b64("webstack")},
    }


def job(condition: str | None, message: str = "") -> dict[str, Any]:
    conditions = [{"type": condition, "status": "True", "message": message}] if condition else []
    return {"kind": "Job", "metadata": {"name": "j"}, "status": {"conditions": conditions}}


def deployment(generation: int, *, replicas: int = 2, **status: Any) -> dict[str, Any]:
    full = {
        "observedGeneration": generation,
        "availableReplicas": 2,
        "updatedReplicas": 2,
        "replicas": replicas,
    }
    return {
        "kind": "Deployment",
        "metadata": {"name": "shop-backend", "generation": generation},
        "spec": {"replicas": 2},
        "status": {**full, **status},
    }


def rollout(restarted: str | None, phase: str = "Healthy") -> dict[str, Any]:
    status = {"phase": phase, "availableReplicas": 2, "updatedReplicas": 2, "observedGeneration": "1"}
    if restarted:
        status["restartedAt"] = restarted
    return {
        "kind": "Rollout",
        "metadata": {"name": "shop-backend", "generation": 1},
        "spec": {"replicas": 2},
        "status": status,
    }


class Database:
    """The logins Postgres accepts, as the Jobs change them (users_api/rotation.py)."""

    def __init__(self) -> None:
        self.accepted = {("webstack", OLD)}

    def run(self, step: str, obj: dict[str, Any]) -> None:
        data = obj["data"]
        if step == "prepare":
            role = text(data, NEXT_USERNAME)
            self.accepted = {(r, p) for r, p in self.accepted if r != role} | {
                (role, text(data, NEXT_PASSWORD))
            }
        else:
            self.accepted -= {(text(data, PREVIOUS_USERNAME), text(data, PREVIOUS_PASSWORD))}


def test_a_rotation_never_leaves_a_backend_pod_with_a_refused_password() -> None:
    db, obj = Database(), secret()
    pods = [("webstack", OLD)] * 2  # what each running backend pod logged in with
    obj = merged(obj, rules.start_patch(obj["data"], "r1", NEW, NOW))
    state = rules.rotation_state(obj)
    assert state.phase is RotationPhase.PREPARING and obj["metadata"]["annotations"][REGENERATED_FOR] == "r1"
    assert text(obj["data"], NEXT_USERNAME) == "webstack_b" and text(obj["data"], "username") == "webstack"
    assert rules.next_rotation_step(state, None, deployment(3)).action is Action.WAIT  # the Job is to come
    db.run("prepare", obj)
    assert set(pods) <= db.accepted
    assert rules.next_rotation_step(state, job("Complete"), deployment(3)).action is Action.SWITCH
    obj = merged(obj, rules.switch_patch(obj["data"]))
    assert (text(obj["data"], "username"), text(obj["data"], "password")) == ("webstack_b", NEW)
    assert NEXT_USERNAME not in obj["data"] and text(obj["data"], PREVIOUS_USERNAME) == "webstack"
    state = rules.rotation_state(obj)
    assert (
        rules.next_rotation_step(state, None, deployment(3)).action is Action.ROLL
    )  # switched, not yet rolled
    obj = merged(obj, rules.rolled_patch("Deployment:4"))
    state = rules.rotation_state(obj)
    # Surge: a new pod joins while the old ones serve; not done while an old pod is left.
    pods.append(("webstack_b", NEW))
    assert rules.next_rotation_step(state, None, deployment(4, replicas=3)).action is Action.WAIT
    assert set(pods) <= db.accepted
    pods = [("webstack_b", NEW)] * 2
    assert rules.next_rotation_step(state, None, deployment(4)).action is Action.RETIRE
    obj = merged(obj, rules.retire_patch())
    state = rules.rotation_state(obj)
    assert state.job_step == "retire"
    db.run("retire", obj)
    assert set(pods) <= db.accepted and ("webstack", OLD) not in db.accepted
    assert rules.next_rotation_step(state, job("Complete"), deployment(4)).action is Action.FINISH
    obj = merged(obj, rules.finish_patch("2026-12-06T23:02:00Z"))
    done = rules.rotation_state(obj)
    assert done.phase is None and done.rotated_at == "2026-12-06T23:02:00Z"
    assert set(obj["data"]) == {"username", "password", "database"}
    # And back: the next rotation gives the owner a new password.
    back = merged(obj, rules.start_patch(obj["data"], "r2", "third-password-0123456789abcd", NOW))
    assert text(back["data"], NEXT_USERNAME) == "webstack"


def test_a_failed_prepare_drops_the_new_password_and_keeps_the_old_credentials() -> None:
    obj = merged(secret(), rules.start_patch(secret()["data"], "r1", NEW, NOW))
    state = rules.rotation_state(obj)
    failed = job(
        "Failed", "Container rotate for pod team-a/x failed with exit code 4 matching FailJob rule at index 0"
    )
    step = rules.next_rotation_step(state, failed, deployment(3))
    assert step.action is Action.FAIL and "new password does not log in" in step.why
    obj = merged(obj, rules.fail_patch(state, step.why))
    assert (text(obj["data"], "username"), text(obj["data"], "password")) == ("webstack", OLD)
    assert NEXT_PASSWORD not in obj["data"] and rules.rotation_state(obj).phase is None
    verdict = rules.verdict(CTX, rules.rotation_state(obj), None, None)
    assert verdict is not None and verdict.ok is False and verdict.reason == "RotationFailed"
    assert (
        verdict.message.startswith("Preparing: the new password does not log in")
        and "still work" in verdict.message
    )
    job_name = rotation_job_name(CTX, "prepare", "r1")
    assert f"kubectl logs job/{job_name}" in verdict.message
    # The failed Job stays rendered (not pruned: its log says why) until another rotation starts.
    assert [j["metadata"]["name"] for j in rules.rotation_jobs(CTX, obj)] == [job_name]
    again = merged(obj, rules.start_patch(obj["data"], "r2", NEW, NOW))
    r2 = rotation_job_name(CTX, "prepare", "r2")
    assert [j["metadata"]["name"] for j in rules.rotation_jobs(CTX, again)] == [r2]


def test_a_failed_retire_keeps_the_old_password_valid_and_says_which_connections_held_it() -> None:
    state = rules.rotation_state(secret("webstack_b", NEW, **{rules.PHASE: "Retiring", rules.REQUEST: "r1"}))
    why = "Container rotate for pod team-a/x failed with exit code 5 matching FailJob rule at index 0"
    step = rules.next_rotation_step(state, job("Failed", why), deployment(4))
    assert step.action is Action.FAIL and "connections of the old role remained" in step.why
    patch = rules.fail_patch(state, step.why)
    assert patch["data"] == {PREVIOUS_USERNAME: None, PREVIOUS_PASSWORD: None}  # active keys untouched


def test_a_job_failure_without_a_known_exit_code_keeps_the_job_s_own_words() -> None:
    ok, why = rules.job_outcome(job("Failed", "Job was active longer than specified deadline"))
    assert ok is False and why == "Job was active longer than specified deadline"
    retried = job("Failed", "Job has reached the specified backoff limit")
    retried["status"]["conditions"][0]["reason"] = "BackoffLimitExceeded"
    assert rules.job_outcome(retried)[1].startswith("the database did not answer")
    assert rules.job_outcome(job(None)) == (None, "") and rules.job_outcome(job("Complete")) == (True, "")


@pytest.mark.parametrize(
    ("workload", "rolled"),
    [
        (deployment(3), False),  # the restart not yet seen by the cache
        (deployment(4, replicas=3), False),  # an old pod still there
        (deployment(4, terminatingReplicas=1), False),  # an old pod terminating (it holds connections)
        (deployment(4, availableReplicas=1), False),
        (deployment(4), True),
        (rollout(None), False),
        (rollout("2026-12-06T22:59:59Z"), False),  # an earlier restart
        (rollout(NOW, phase="Progressing"), False),
        (rollout(NOW), True),
        (None, True),  # no backend left to move
    ],
)
def test_the_backend_counts_as_rolled_only_with_every_old_pod_gone(
    workload: dict[str, Any] | None, rolled: bool
) -> None:
    mark = f"Rollout:{NOW}" if workload and workload["kind"] == "Rollout" else "Deployment:4"
    assert rules.backend_rolled(workload, mark)[0] is rolled


def test_the_jobs_render_for_their_step_only_with_the_keys_they_read() -> None:
    [prepare] = rules.rotation_jobs(CTX, slim(secret(**{rules.PHASE: "Preparing", rules.REQUEST: "r1"})))
    assert prepare["metadata"]["name"] == rotation_job_name(CTX, "prepare", "r1")
    env = {e["name"]: e for e in prepare["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ROTATION_USERNAME"]["valueFrom"]["secretKeyRef"] == {
        "name": "shop-postgres",
        "key": NEXT_USERNAME,
    }
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == "password"  # logged in as the backend
    assert prepare["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] == "credentials"
    [retire] = rules.rotation_jobs(CTX, slim(secret(**{rules.PHASE: "Retiring", rules.REQUEST: "r1"})))
    env = {e["name"]: e for e in retire["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["ROTATION_PASSWORD"]["valueFrom"]["secretKeyRef"]["key"] == PREVIOUS_PASSWORD
    assert rules.rotation_jobs(CTX, slim(secret(**{rules.PHASE: "Rolling", rules.REQUEST: "r1"}))) == []
    assert rules.rotation_jobs(CTX, slim(secret())) == [] and rules.rotation_jobs(CTX, None) == []
    referenced = make_stack(database={"credentials": {"secretRef": {"name": "mine"}}})
    assert rules.rotated_secret(referenced, slim(secret(**{rules.PHASE: "Preparing"}))) is None
    assert rules.rotated_secret(CTX, slim(secret())) is not None
    assert rotation_job_name(CTX, "prepare", "r1") != rotation_job_name(CTX, "prepare", "r2")


def test_status_says_nothing_before_the_first_rotation_then_progress_then_the_time() -> None:
    assert rules.verdict(CTX, rules.RotationState(), None, None) is None
    rolling = rules.RotationState(RotationPhase.ROLLING, "r1", NOW, "Deployment:4")
    verdict = rules.verdict(CTX, rolling, None, deployment(4, replicas=3))
    assert verdict is not None and verdict.ok is None and verdict.reason == "Rolling"
    assert verdict.fields == {"rotation": {"phase": "Rolling", "request": "r1", "startedTime": NOW}}
    assert "old ones stay valid" in verdict.message
    done = rules.verdict(CTX, rules.RotationState(request="r1", rotated_at=NOW), None, None)
    assert done is not None and done.ok is True and done.fields == {"lastRotationTime": NOW}


def test_the_schedule_counts_from_the_last_rotation_and_retries_a_failure_within_the_hour() -> None:
    day = 86_400.0
    start = rules._epoch(NOW)
    assert (
        rules.rotation_period_seconds("36h") == 36 * 3600 and rules.rotation_period_seconds("30d") == 30 * day
    )
    assert not rules.due(rules.RotationState(rotated_at=NOW), "1d", start + day - 1)
    assert rules.due(rules.RotationState(rotated_at=NOW), "1d", start + day)
    assert rules.due(rules.RotationState(since=NOW), "1d", start + day)
    assert not rules.due(rules.RotationState(), "1d", start + 100 * day)  # no baseline yet: written first
    assert not rules.due(
        rules.RotationState(phase=RotationPhase.ROLLING, rotated_at=NOW), "1d", start + 2 * day
    )
    assert not rules.due(rules.RotationState(rotated_at=NOW), None, start + 2 * day)
    # A scheduled one failed a day after the last rotation: tried again an hour later, not a day.
    failed = rules.RotationState(rotated_at="2026-12-05T23:00:00Z", started=NOW, failed="Preparing: x")
    assert not rules.due(failed, "1d", start + 3599) and rules.due(failed, "1d", start + 3600)


def test_the_switch_restarts_after_any_restart_asked_for_in_the_same_second() -> None:
    assert rules.restart_time("2026-12-06T23:59:59Z") == "2026-12-07T00:00:00Z"

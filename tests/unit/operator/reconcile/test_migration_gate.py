"""The migration gate: what is held back, what the Migrated condition says, one Event per failed Job."""

from __future__ import annotations

from typing import Any

from tests.support.rendered_stacks import NO_OPTIONAL_APIS, render

from webstack_operator.objects.stamps import key_of
from webstack_operator.observe.cache import slim
from webstack_operator.reconcile.decisions import Event
from webstack_operator.reconcile.migration_gate import Migration, event, gate

OLD, NEW = "ghcr.io/webstack-dev/users-api:0.1.0", "ghcr.io/webstack-dev/users-api:0.2.0"
CANARY = {"delivery": {"strategy": "Canary", "steps": [{"setWeight": 20}, {"pause": {}}]}}


def desired(image: str = NEW, **backend: Any) -> list[dict[str, Any]]:
    return render(capabilities=NO_OPTIONAL_APIS, backend={"image": image, **backend})


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].startswith("shop-")]
    found = [o for o in found if kind != "Deployment" or o["metadata"]["name"] == "shop-backend"]
    assert len(found) == 1, kind
    return found[0]


def job_with(objects: list[dict[str, Any]], *conditions: tuple[str, str], **extra: str) -> dict[str, Any]:
    """The desired Job as the cache holds it once the Job controller reported these conditions."""
    job = one(objects, "Job")
    status = {"conditions": [{"type": t, "status": s, **extra} for t, s in conditions]}
    return slim({**job, "status": status})


def running_backend(image: str = OLD, kind: str = "Deployment") -> dict[str, Any]:
    """The backend workload as the cache holds it, running `image`."""
    workload = one(desired(image), "Deployment")
    return slim({**workload, "kind": kind, "status": {"availableReplicas": 2}})


def backend_key(objects: list[dict[str, Any]]) -> tuple[str, str, str, str]:
    return key_of(one(objects, "Deployment"))


def test_first_install_waits_for_its_first_migration() -> None:
    objects = desired()
    waiting = gate(objects, [])
    assert waiting.held == {backend_key(objects)}
    assert waiting.verdict is not None and waiting.verdict.ok is None
    assert waiting.verdict.reason == "Running"
    job = one(objects, "Job")["metadata"]["name"]
    assert waiting.verdict.job == job and job in waiting.verdict.message
    running = gate(objects, [job_with(objects)])
    assert running.held == {backend_key(objects)}
    done = gate(objects, [job_with(objects, ("SuccessCriteriaMet", "True"), ("Complete", "True"))])
    assert done.held == frozenset()
    assert done.verdict is not None and (done.verdict.ok, done.verdict.reason) == (True, "Succeeded")
    assert job in done.verdict.message


def test_a_new_image_is_held_until_its_job_completed_and_the_old_one_is_kept() -> None:
    objects = desired(NEW)
    live = running_backend(OLD)
    assert gate(objects, [live]).held == {backend_key(objects)}
    assert gate(objects, [live, job_with(objects, ("Complete", "True"))]).held == frozenset()
    # A Job of another template (the previous image's, completed) does not count.
    previous = job_with(desired(OLD), ("Complete", "True"))
    assert gate(objects, [live, previous]).held == {backend_key(objects)}


def test_the_running_image_is_never_held() -> None:
    objects = desired(NEW, logLevel="debug")  # a new Job (its env changed), the same image
    result = gate(objects, [running_backend(NEW), job_with(objects)])
    assert result.held == frozenset()
    assert result.verdict is not None and result.verdict.ok is None
    # ... and the condition says so, not that the backend waits for the Job.
    assert result.verdict.message.endswith(f"the backend runs {NEW} meanwhile"), result.verdict.message
    held = gate(objects, [running_backend(OLD), job_with(objects)])
    assert held.verdict is not None and held.verdict.message.endswith("the backend rolls out after it")


def test_a_failed_migration_holds_the_backend_and_says_what_to_do() -> None:
    objects = desired(NEW)
    failed = job_with(objects, ("FailureTarget", "True"), ("Failed", "True"), reason="PodFailurePolicy")
    result = gate(objects, [running_backend(OLD), failed])
    assert result.held == {backend_key(objects)}
    assert result.failed
    verdict = result.verdict
    assert verdict is not None and (verdict.ok, verdict.reason) == (False, "MigrationFailed")
    name = one(objects, "Job")["metadata"]["name"]
    assert f"Job {name} failed (PodFailurePolicy" in verdict.message
    assert f"still runs {OLD}, untouched" in verdict.message
    assert "fix the image" in verdict.message and f"delete Job {name}" in verdict.message


def test_a_kind_switch_keeps_the_running_workload_until_the_migration_completed() -> None:
    objects = render(capabilities=None, backend={"image": NEW, **CANARY})
    rollout = one(objects, "Rollout")
    live = running_backend(OLD, kind="Deployment")
    held = gate(objects, [live]).held
    assert held == {key_of(rollout), key_of(live)}


def test_no_job_no_gate() -> None:
    assert gate([o for o in desired() if o["kind"] != "Job"], []) == Migration()
    assert gate([], []).verdict is None


def test_one_warning_event_per_failed_job() -> None:
    objects = desired(NEW)
    failed = gate(objects, [running_backend(OLD), job_with(objects, ("Failed", "True"))]).verdict
    assert failed is not None
    name = failed.job
    first = event({}, failed)
    assert first == Event("Warning", "MigrationFailed", failed.message)
    assert name in first.message
    reported = {
        "conditions": [
            {"type": "Migrated", "status": "False", "reason": "MigrationFailed", "message": failed.message}
        ]
    }
    assert event(reported, failed) is None
    # Running or succeeded: nothing to tell.
    running = {
        "conditions": [{"type": "Migrated", "status": "Unknown", "reason": "Running", "message": name}]
    }
    assert event(running, failed) is not None
    assert event({}, gate(objects, []).verdict) is None
    assert event({}, None) is None
    # Another Job failing after that one: a new Event.
    other = desired("ghcr.io/webstack-dev/users-api:0.3.0")
    again = gate(other, [running_backend(OLD), job_with(other, ("Failed", "True"))]).verdict
    assert event(reported, again) is not None

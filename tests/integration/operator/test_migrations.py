"""Migrations before rollout, on a real control plane: a backend image rolls out only after its migration
Job completed, and a failing migration leaves the running version untouched.

kwok "runs" the Job's pod: the cached `pod-complete` stage ends it Succeeded; an image containing
`migration-fails` ends it Failed with exit code 1 (tools/python/kubelocal/kwok-stages.yaml), as
`users-api migrate` ends when a migration fails.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, condition, events, get_json, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
FAILING = "ghcr.io/webstack-dev/users-api:0.2.0-migration-fails"
FIXED = "ghcr.io/webstack-dev/users-api:0.2.1"


def migration_jobs(cluster: KubeTarget, ns: str, name: str) -> dict[str, dict[str, Any]]:
    """The stack's migration Jobs by the image they migrate for."""
    items = get_json(
        cluster,
        "jobs",
        "-n",
        ns,
        "-l",
        f"app.kubernetes.io/instance={name},app.kubernetes.io/component=migrate",
    )["items"]
    return {i["spec"]["template"]["spec"]["containers"][0]["image"]: i for i in items}


def job_condition(job: dict[str, Any], ctype: str) -> dict[str, Any] | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c["type"] == ctype and c["status"] == "True":
            return dict(c)
    return None


def backend(cluster: KubeTarget, ns: str) -> dict[str, Any] | None:
    got = cluster.kubectl("get", "deployment", "shop-backend", "-n", ns, "-o", "json", check=False)
    return get_json(cluster, "deployment", "shop-backend", "-n", ns) if got.returncode == 0 else None


def backend_image(workload: dict[str, Any]) -> str:
    return str(workload["spec"]["template"]["spec"]["containers"][0]["image"])


def migration_warnings(cluster: KubeTarget, ns: str) -> list[dict[str, Any]]:
    return [e for e in events(cluster, ns, "shop") if e["reason"] == "MigrationFailed"]


def test_a_stack_is_ready_only_after_its_migration_job_completed(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", {"backend": {"image": IMAGE}})
    seen: list[tuple[bool, bool]] = []  # (backend exists, its Job completed), at every look

    def look() -> dict[str, Any]:
        job = migration_jobs(platform, namespace, "shop").get(IMAGE)
        completed = job is not None and job_condition(job, "Complete") is not None
        seen.append((backend(platform, namespace) is not None, completed))
        return get_json(platform, "webstack", "shop", "-n", namespace)

    ws = eventually(
        look,
        until=lambda w: (w.get("status") or {}).get("phase") == "Ready",
        timeout=90,
        interval=0.2,
        what="the stack Ready",
    )
    assert (True, False) not in seen, f"the backend existed before its migration completed: {seen}"
    assert (False, False) in seen or (False, True) in seen  # the backend did not exist at first

    job = migration_jobs(platform, namespace, "shop")[IMAGE]
    assert job["metadata"]["name"].startswith("shop-migrate-")
    assert job["spec"]["template"]["spec"]["containers"][0]["command"] == ["users-api", "migrate"]
    completed = job_condition(job, "Complete")
    assert completed is not None
    workload = backend(platform, namespace)
    assert workload is not None and backend_image(workload) == IMAGE
    assert workload["metadata"]["creationTimestamp"] >= completed["lastTransitionTime"]
    migrated = condition(ws, "Migrated")
    assert (migrated["status"], migrated["reason"]) == ("True", "Succeeded")
    assert job["metadata"]["name"] in migrated["message"]


def test_a_failed_migration_leaves_the_running_version_until_a_fixed_image_rolls_out(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", {"backend": {"image": IMAGE}})
    wait_phase(platform, namespace, "shop")
    first_job = migration_jobs(platform, namespace, "shop")[IMAGE]["metadata"]["name"]

    apply_webstack(platform, namespace, "shop", {"backend": {"image": FAILING}})
    ws = eventually(
        lambda: get_json(platform, "webstack", "shop", "-n", namespace),
        until=lambda w: any(
            c["type"] == "Migrated" and c["reason"] == "MigrationFailed"
            for c in (w.get("status") or {}).get("conditions") or []
        ),
        timeout=90,
        what="Migrated=False MigrationFailed",
    )
    failed_job = migration_jobs(platform, namespace, "shop")[FAILING]
    name = failed_job["metadata"]["name"]
    assert job_condition(failed_job, "Failed") is not None
    migrated = condition(ws, "Migrated")
    assert migrated["status"] == "False"
    assert f"Job {name} failed" in migrated["message"]
    assert f"still runs {IMAGE}" in migrated["message"]
    assert ws["status"]["phase"] == "Degraded"
    assert condition(ws, "Ready")["reason"] == "MigrationFailed"
    workload = backend(platform, namespace)
    assert workload is not None and backend_image(workload) == IMAGE  # the running version, untouched

    warnings = eventually(
        lambda: migration_warnings(platform, namespace),
        until=lambda found: len(found) >= 1,
        timeout=30,
        what="the MigrationFailed Event",
    )
    # More reconciles of the same failure (a new generation, the same Job) tell nothing new.
    apply_webstack(platform, namespace, "shop", {"backend": {"image": FAILING, "replicas": 3}})
    eventually(
        lambda: get_json(platform, "webstack", "shop", "-n", namespace),
        until=lambda w: (w.get("status") or {}).get("observedGeneration") == w["metadata"]["generation"],
        timeout=60,
        what="the new generation reconciled",
    )
    warnings = migration_warnings(platform, namespace)
    assert len(warnings) == 1 and (warnings[0].get("count") or 1) == 1, warnings
    assert warnings[0]["type"] == "Warning" and name in warnings[0]["message"]
    workload = backend(platform, namespace)
    assert workload is not None and backend_image(workload) == IMAGE

    apply_webstack(platform, namespace, "shop", {"backend": {"image": FIXED, "replicas": 3}})
    ws = eventually(
        lambda: wait_phase(platform, namespace, "shop"),
        until=lambda w: w["status"]["components"]["backend"].get("image") == FIXED,
        timeout=90,
        what="the fixed image Ready",
    )
    assert condition(ws, "Migrated")["status"] == "True"
    jobs = eventually(
        lambda: migration_jobs(platform, namespace, "shop"),
        until=lambda found: set(found) == {FIXED},
        timeout=30,
        what="the failed and the old Job pruned",
    )
    assert name not in {j["metadata"]["name"] for j in jobs.values()}
    assert first_job not in {j["metadata"]["name"] for j in jobs.values()}
    assert len(migration_warnings(platform, namespace)) == 1

"""The migration Job: the backend's image, environment and identity, hardened, named after its spec."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support import hardening_policy as policy
from tests.support.placement_cases import SPOT_TOLERATION, spread
from tests.support.rendered_stacks import NO_OPTIONAL_APIS, make_stack, render

from webstack_operator.api.files import load_documents
from webstack_operator.api.spec import parse_spec
from webstack_operator.builders.backend import backend_workload
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.migrate import migration_job, migration_pod_template
from webstack_operator.config import run_options
from webstack_operator.reconcile.decisions import prunable

EXTERNAL = {"database": {"mode": "External", "credentials": {"secretRef": {"name": "rds"}}}}


MINIMAL = Path(__file__).parents[4] / "deploy" / "samples" / "webstack-minimal.yaml"
PLACEMENT = {
    "nodeSelector": {"eks.amazonaws.com/capacityType": "SPOT"},
    "tolerations": [SPOT_TOLERATION],
    "topologySpreadConstraints": [spread(minDomains=3)],
}


def _job(**sections: Any) -> dict[str, Any]:
    return migration_job(make_stack(**sections))


def _pod(obj: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = obj["spec"]["template"]["spec"]
    return pod


def test_runs_users_api_migrate_once_in_the_backends_image() -> None:
    job = _job()
    assert (job["apiVersion"], job["kind"]) == ("batch/v1", "Job")
    assert job["metadata"]["namespace"] == "team-a"
    pod = _pod(job)
    backend = _pod(backend_workload(make_stack()))
    [container] = pod["containers"]
    assert container["command"] == ["users-api", "migrate"]
    assert container["image"] == backend["containers"][0]["image"]
    assert pod["restartPolicy"] == "Never"
    assert "ports" not in container and "readinessProbe" not in container
    assert 1 <= job["spec"]["backoffLimit"] <= 6
    assert 0 < job["spec"]["activeDeadlineSeconds"] <= 3600
    assert "ttlSecondsAfterFinished" not in job["spec"]  # the completed Job is the record of the migration


def test_failures_a_retry_cannot_fix_fail_the_job_at_once() -> None:
    rules = _job()["spec"]["podFailurePolicy"]["rules"]
    assert rules[0] == {
        "action": "FailJob",
        "onExitCodes": {"containerName": "migrate", "operator": "In", "values": [1, 2]},
    }
    assert {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]} in rules


def test_same_credentials_identity_and_environment_as_the_backend() -> None:
    for sections in ({}, EXTERNAL, {"backend": {"env": [{"name": "EXTRA", "value": "1"}]}}):
        ctx = make_stack(**sections)
        pod, backend = _pod(migration_job(ctx)), _pod(backend_workload(ctx))
        assert pod["containers"][0]["env"] == backend["containers"][0]["env"], sections
        assert pod["serviceAccountName"] == backend["serviceAccountName"] == "shop-backend"
        assert pod["containers"][0]["resources"] == backend["containers"][0]["resources"]
        assert pod["securityContext"] == backend["securityContext"]


def test_migrations_connect_to_the_client_service() -> None:
    """The Job starts before Postgres is Ready: a headless name's cached NXDOMAIN would stall it ~30 s."""
    env = {e["name"]: e for e in migration_pod_template(make_stack())["spec"]["containers"][0]["env"]}
    assert env["PGHOST"]["value"] == "shop-postgres-rw"


def test_hardened_like_every_pod() -> None:
    for sections in ({}, EXTERNAL, {"security": {"priorityClassName": "webstack-high"}}):
        job = _job(**sections)
        assert policy.hardening_violations(job) == []
        assert policy.label_violations(job) == []
        assert policy.name_violations(job) == []
        pod = _pod(job)
        assert pod["automountServiceAccountToken"] is False
        sc = pod["containers"][0]["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["capabilities"] == {"drop": ["ALL"]}
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}


def test_name_follows_the_spec_so_a_new_image_is_a_new_job() -> None:
    name = _job()["metadata"]["name"]
    assert name.startswith("shop-migrate-")
    assert name == _job()["metadata"]["name"]
    assert name != _job(backend={"image": "ghcr.io/webstack-dev/users-api:0.2.0"})["metadata"]["name"]
    assert name != _job(backend={"logLevel": "debug"})["metadata"]["name"]
    assert name != _job(**EXTERNAL)["metadata"]["name"]
    # Scaling the backend changes nothing the migration runs with.
    assert name == _job(backend={"replicas": 5})["metadata"]["name"]


def test_placement_never_renames_the_job_so_it_never_reruns_or_interrupts_a_migration() -> None:
    name = _job()["metadata"]["name"]
    assert name == _job(backend={"placement": PLACEMENT})["metadata"]["name"]
    assert name == _job(placement=PLACEMENT)["metadata"]["name"]
    assert name == _job(placement=PLACEMENT, backend={"placement": {"tolerations": []}})["metadata"]["name"]


def test_the_minimal_samples_job_name_is_pinned() -> None:
    """The name every existing stack's Job has: a change to the hash re-runs every stack's migration when
    the operator is upgraded. Change it only on purpose, and say so in the release notes."""
    [doc] = load_documents(str(MINIMAL))
    ctx = StackContext(
        spec=parse_spec(doc),
        name=doc["metadata"]["name"],
        namespace=doc["metadata"]["namespace"],
        settings=run_options.load_settings({}),
        generated_password="p" * 32,
        generated_cache_password="c" * 32,
    )
    # Changed on purpose from shop-migrate-72a91b453d: PGHOST names the client Service `<stack>-postgres-rw`
    # (docs/ops/upgrade.md, "Upgrading to the release with the Postgres client Service").
    assert migration_job(ctx)["metadata"]["name"] == "shop-migrate-3ed7a83c97"


def test_the_pod_takes_the_backends_node_selector_and_tolerations_but_not_its_spread() -> None:
    pod = _pod(_job(backend={"placement": PLACEMENT}))
    assert pod["nodeSelector"] == PLACEMENT["nodeSelector"]
    assert pod["tolerations"] == [SPOT_TOLERATION]
    assert "topologySpreadConstraints" not in pod  # one pod: minDomains could only hold it Pending


def test_long_stack_names_stay_within_the_job_name_label() -> None:
    long_name = "s" * 40  # the longest a WebStack may be named
    names = {
        migration_job(make_stack(name=long_name, backend={"image": f"ghcr.io/x/users-api:0.{i}.0"}))[
            "metadata"
        ]["name"]
        for i in range(3)
    }
    assert len(names) == 3
    assert all(len(n) <= 63 and policy.DNS_LABEL.match(n) for n in names)


def test_labelled_and_owned_like_the_stack_so_an_old_job_is_pruned() -> None:
    job = _job()
    meta = job["metadata"]
    assert meta["labels"]["app.kubernetes.io/component"] == "migrate"
    assert meta["labels"]["app.kubernetes.io/managed-by"] == "webstack-operator"
    assert meta["labels"]["app.kubernetes.io/instance"] == "shop"
    assert prunable(job, meta["ownerReferences"][0]["uid"], "team-a")
    pod_labels = job["spec"]["template"]["metadata"]["labels"]
    assert pod_labels["app.kubernetes.io/component"] == "migrate"  # never selected by the backend Service


def test_every_stack_renders_one() -> None:
    for sections in ({}, EXTERNAL, {"cache": {"mode": "Disabled"}}):
        jobs = [o for o in render(capabilities=NO_OPTIONAL_APIS, **sections) if o["kind"] == "Job"]
        assert len(jobs) == 1, sections

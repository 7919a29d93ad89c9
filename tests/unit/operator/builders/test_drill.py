"""The dump CronJob and the drill's objects: where they run, what they may reach, what they never carry."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.rendered_stacks import OWNER, find, make_stack, render

from webstack_operator.api.spec import SpecError, parse_spec
from webstack_operator.builders.drill import (
    DRILL_ID,
    DRILL_STARTED,
    DrillRun,
    client_secret,
    drill_job,
    scratch_namespace,
    scratch_namespace_name,
    scratch_objects,
)
from webstack_operator.builders.dump import dump_cronjob, dump_objects
from webstack_operator.objects import labels

BACKUP = {"enabled": True, "dump": {"claimName": "dumps", "keep": 5}, "drill": {"enabled": True}}
RUN = DrillRun("2026-12-06T10:00:00Z", "2026-12-06T10:00:01Z", "scratch-password")


def _container(pod_spec: dict[str, Any]) -> dict[str, Any]:
    [container] = pod_spec["containers"]
    return dict(container)


def test_the_dump_cronjob_runs_pg_dump_on_the_backup_schedule_into_the_named_claim() -> None:
    ctx = make_stack(backup={**BACKUP, "schedule": "30 2 * * *"})
    cronjob = dump_cronjob(ctx)
    assert (cronjob["kind"], cronjob["metadata"]["name"]) == ("CronJob", "shop-dump")
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == (
        "30 2 * * *",
        "Etc/UTC",
        "Forbid",
    )
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert {"name": "backup", "persistentVolumeClaim": {"claimName": "dumps"}} in pod["volumes"]
    container = _container(pod)
    assert "pg_dump --format=custom" in container["command"][2]
    env = {e["name"]: e for e in container["env"]}
    assert env["KEEP"]["value"] == "5"
    # The password comes from the credentials Secret, never as a literal.
    assert env["PGPASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "shop-postgres", "key": "password"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["automountServiceAccountToken"] is False and pod["restartPolicy"] == "Never"
    # Its Jobs and pods are the CronJob's: the operator's watches (managed-by) never take them for children.
    for meta in (spec["jobTemplate"]["metadata"], spec["jobTemplate"]["spec"]["template"]["metadata"]):
        assert labels.MANAGED_BY not in meta["labels"]
        assert meta["labels"][labels.COMPONENT] == "dump"


def test_an_external_database_is_dumped_through_its_uri() -> None:
    ctx = make_stack(
        backup=BACKUP,
        database={"mode": "External", "credentials": {"secretRef": {"name": "rds"}}},
    )
    env = {
        e["name"]: e
        for e in _container(dump_cronjob(ctx)["spec"]["jobTemplate"]["spec"]["template"]["spec"])["env"]
    }
    assert env["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {"name": "rds", "key": "uri"}
    assert "PGHOST" not in env


def test_no_dump_without_backups_or_a_claim() -> None:
    assert dump_objects(make_stack(backup={"enabled": True})) == []
    assert [o["kind"] for o in render(backup=BACKUP) if o["kind"] == "CronJob"] == ["CronJob"]


@pytest.mark.parametrize(
    ("backup", "message"),
    [
        ({"enabled": True, "drill": {"enabled": True}}, "drill.enabled needs dump"),
        ({"enabled": False, "dump": {"claimName": "dumps"}}, "apply only when enabled is true"),
        ({**BACKUP, "drill": {"enabled": True, "period": "0h"}}, "does not match"),
        ({**BACKUP, "dump": {"claimName": "dumps", "keep": 0}}, "greater than or equal to 1"),
    ],
)
def test_the_spec_refuses_what_cannot_run(backup: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec({"metadata": {"name": "shop"}, "spec": {"backend": {"image": "a/b:1"}, "backup": backup}})


def test_the_scratch_namespace_is_the_stacks_own_and_collides_with_nothing() -> None:
    assert scratch_namespace(make_stack(backup=BACKUP)) == scratch_namespace_name("team-a", "shop")
    assert scratch_namespace_name("a-b", "c") != scratch_namespace_name("a", "b-c")
    assert scratch_namespace_name("a-b", "c").startswith("wsdrill-a-b-c-")
    assert len(scratch_namespace_name("n" * 63, "s" * 40)) <= 63


def test_the_scratch_objects_have_no_ingress_iam_or_servicemonitor_and_only_the_client_gets_in() -> None:
    ctx = make_stack(backup=BACKUP, backend={"iamRoleArn": "arn:aws:iam::123456789012:role/shop"})
    objects = scratch_objects(ctx, RUN)
    kinds = [o["kind"] for o in objects]
    assert kinds == ["Namespace", "NetworkPolicy", "NetworkPolicy", "Secret", "Service", "Deployment"]
    namespace = objects[0]
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert namespace["metadata"]["annotations"] == {DRILL_ID: RUN.id}
    for obj in objects:
        assert labels.MANAGED_BY not in obj["metadata"]["labels"], obj["kind"]
        assert "ownerReferences" not in obj["metadata"]
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace["metadata"]["name"]
    deny, allow = objects[1], objects[2]
    assert deny["spec"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    [rule] = allow["spec"]["ingress"]
    assert rule["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "team-a"}},
            "podSelector": {"matchLabels": labels.selector_labels("shop", "drill")},
        }
    ]
    assert allow["spec"]["egress"] == []
    pod = objects[-1]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "default" and pod["automountServiceAccountToken"] is False
    assert "eks.amazonaws.com/role-arn" not in str(objects)
    data = [v for v in pod["volumes"] if v["name"] == "data"]
    assert data == [{"name": "data", "emptyDir": {"sizeLimit": "10Gi"}}]


def test_the_restore_client_mounts_the_dumps_read_only_and_is_no_child_of_the_operator() -> None:
    ctx = make_stack(backup=BACKUP)
    job = drill_job(ctx, RUN)
    meta = job["metadata"]
    assert (meta["name"], meta["namespace"]) == ("shop-drill", "team-a")
    assert meta["annotations"] == {DRILL_ID: RUN.id, DRILL_STARTED: RUN.started}
    assert meta["ownerReferences"] == [{**OWNER.manifest(), "controller": False}]
    assert labels.MANAGED_BY not in meta["labels"]
    spec = job["spec"]
    assert spec["backoffLimit"] == 0 and spec["activeDeadlineSeconds"] > 0
    pod = spec["template"]["spec"]
    claim = [v for v in pod["volumes"] if v["name"] == "backup"]
    assert claim == [{"name": "backup", "persistentVolumeClaim": {"claimName": "dumps", "readOnly": True}}]
    container = _container(pod)
    env = {e["name"]: e for e in container["env"]}
    assert env["SCRATCH_HOST"]["value"] == f"postgres.{scratch_namespace(ctx)}.svc"
    assert env["SCRATCH_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "shop-drill", "key": "password"}
    assert "scratch-password" not in str(job)  # the password only in the Secrets
    secret = client_secret(ctx, RUN, {"metadata": {"name": "shop-drill", "uid": "job-uid"}})
    assert secret["metadata"]["ownerReferences"][0]["uid"] == "job-uid"


def test_the_network_policies_let_the_dump_and_drill_reach_the_database_and_the_drill_its_scratch() -> None:
    objects = render(backup=BACKUP)
    dump = find(objects, "NetworkPolicy", "shop-dump")
    assert dump["spec"]["ingress"] == [] and len(dump["spec"]["egress"]) == 2
    drill = find(objects, "NetworkPolicy", "shop-drill")
    scratch = drill["spec"]["egress"][2]["to"][0]
    assert scratch["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": scratch_namespace_name("team-a", "shop")
    }
    postgres = find(objects, "NetworkPolicy", "shop-postgres")
    components = [
        p["podSelector"]["matchLabels"][labels.COMPONENT] for p in postgres["spec"]["ingress"][0]["from"]
    ]
    assert components == ["backend", "migrate", "credentials", "dump", "drill"]  # credentials: a rotation
    without = find(render(), "NetworkPolicy", "shop-postgres")
    assert len(without["spec"]["ingress"][0]["from"]) == 3  # backend, migrate, credentials

"""Managed Postgres: StatefulSet on a PVC, retention per deletionPolicy, probes, Velero hooks."""

from __future__ import annotations

import json
from typing import Any

from tests.unit.operator.builders.stacks import env_of, make_stack

from webstack_operator.builders.postgres import DUMP_FILE, PGDATA, postgres_objects


def _sts(**sections: Any) -> dict[str, Any]:
    objects = postgres_objects(make_stack(**sections))
    return next(o for o in objects if o["kind"] == "StatefulSet")


def test_headless_service_and_statefulset() -> None:
    service, sts = postgres_objects(make_stack())
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["ports"] == [
        {"name": "postgres", "port": 5432, "targetPort": "postgres", "protocol": "TCP"}
    ]
    assert sts["spec"]["serviceName"] == service["metadata"]["name"] == "shop-postgres"
    assert sts["spec"]["replicas"] == 1


def test_image_follows_version_and_override() -> None:
    assert (
        _sts()["spec"]["template"]["spec"]["containers"][0]["image"] == "docker.io/library/postgres:16-alpine"
    )
    assert (
        _sts(database={"version": "17"})["spec"]["template"]["spec"]["containers"][0]["image"]
        == "docker.io/library/postgres:17-alpine"
    )
    mirror = "mirror.example.com/postgres:16.4-alpine"
    assert _sts(database={"image": mirror})["spec"]["template"]["spec"]["containers"][0]["image"] == mirror


def test_retention_policy_follows_deletion_policy() -> None:
    assert _sts()["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Retain",
        "whenScaled": "Retain",
    }
    delete = _sts(database={"deletionPolicy": "Delete"})
    assert delete["spec"]["persistentVolumeClaimRetentionPolicy"] == {
        "whenDeleted": "Delete",
        "whenScaled": "Retain",
    }


def test_volume_claim_template() -> None:
    [claim] = _sts(database={"storage": {"size": "50Gi", "storageClassName": "gp3"}})["spec"][
        "volumeClaimTemplates"
    ]
    assert claim["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "50Gi"}},
        "storageClassName": "gp3",
    }
    assert claim["metadata"]["labels"]["app.kubernetes.io/instance"] == "shop"  # Velero selects PVCs by label
    assert "storageClassName" not in _sts()["spec"]["volumeClaimTemplates"][0]["spec"]


def test_credentials_and_writable_paths() -> None:
    container = _sts()["spec"]["template"]["spec"]["containers"][0]
    env = env_of(container)
    assert env["POSTGRES_PASSWORD"] == {"secretKeyRef": {"name": "shop-postgres", "key": "password"}}
    assert env["PGDATA"] == PGDATA
    mounts = {m["mountPath"] for m in container["volumeMounts"]}
    assert mounts == {"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp", "/dev/shm"}
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "pg_isready" in container["readinessProbe"]["exec"]["command"][-1]


def test_velero_hooks_only_with_backup() -> None:
    assert "annotations" not in _sts()["spec"]["template"]["metadata"]
    annotations = _sts(backup={"enabled": True})["spec"]["template"]["metadata"]["annotations"]
    pre = json.loads(annotations["pre.hook.backup.velero.io/command"])
    assert pre[:2] == ["/bin/sh", "-c"] and "pg_dump" in pre[2] and DUMP_FILE in pre[2]
    assert annotations["pre.hook.backup.velero.io/container"] == "postgres"
    assert annotations["pre.hook.backup.velero.io/on-error"] == "Fail"
    assert "rm -f" in json.loads(annotations["post.hook.backup.velero.io/command"])[2]
    assert "backup.velero.io/backup-volumes" not in annotations
    fs = _sts(backup={"enabled": True, "volumeBackupMethod": "FileSystem"})["spec"]["template"]["metadata"]
    assert fs["annotations"]["backup.velero.io/backup-volumes"] == "data"


def test_external_database_renders_nothing() -> None:
    ctx = make_stack(database={"mode": "External", "credentials": {"secretRef": {"name": "rds"}}})
    assert postgres_objects(ctx) == []

"""Managed Postgres: StatefulSet on a PVC, retention per deletionPolicy, probes, Velero hooks."""

from __future__ import annotations

import json
from typing import Any

from tests.support import hardening_policy as policy
from tests.support.rendered_stacks import env_of, make_stack

from webstack_operator.builders.postgres import (
    CREDENTIALS_MOUNT,
    CREDENTIALS_SYNC_SCRIPT,
    DUMP_FILE,
    PGDATA,
    postgres_objects,
)


def _sts(**sections: Any) -> dict[str, Any]:
    objects = postgres_objects(make_stack(**sections))
    return next(o for o in objects if o["kind"] == "StatefulSet")


def _containers(**sections: Any) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in _sts(**sections)["spec"]["template"]["spec"]["containers"]}


PORTS = [{"name": "postgres", "port": 5432, "targetPort": "postgres", "protocol": "TCP"}]
SELECTOR = {
    "app.kubernetes.io/part-of": "webstack",
    "app.kubernetes.io/instance": "shop",
    "app.kubernetes.io/component": "database",
}
# The headless governing Service exactly as the release before the client Service rendered it: an existing
# stack's must not change (its `clusterIP: None` is immutable, and the StatefulSet's `serviceName` names it).
PREVIOUS_HEADLESS_SERVICE = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "shop-postgres",
        "namespace": "team-a",
        "labels": {
            "app.kubernetes.io/name": "postgresql",
            "app.kubernetes.io/instance": "shop",
            "app.kubernetes.io/component": "database",
            "app.kubernetes.io/part-of": "webstack",
            "app.kubernetes.io/managed-by": "webstack-operator",
        },
        "ownerReferences": [
            {
                "apiVersion": "webstack.dev/v1alpha1",
                "kind": "WebStack",
                "name": "shop",
                "uid": "6f1c2d3e-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    },
    "spec": {"type": "ClusterIP", "clusterIP": "None", "selector": SELECTOR, "ports": PORTS},
}


def test_headless_governing_service_client_service_and_statefulset() -> None:
    headless, client, sts = postgres_objects(make_stack())
    assert headless == PREVIOUS_HEADLESS_SERVICE
    assert sts["spec"]["serviceName"] == "shop-postgres"
    assert sts["spec"]["replicas"] == 1
    # Clients get a virtual IP: no `clusterIP` key (the API server allocates one), the same pods and port.
    assert client["metadata"]["name"] == "shop-postgres-rw"
    assert client["metadata"]["labels"] == headless["metadata"]["labels"]
    assert client["metadata"]["ownerReferences"] == headless["metadata"]["ownerReferences"]
    assert client["spec"] == {"type": "ClusterIP", "selector": SELECTOR, "ports": PORTS}
    assert client["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
    container_ports = sts["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert container_ports == [{"name": "postgres", "containerPort": 5432, "protocol": "TCP"}]


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


def test_passwords_are_stored_and_checked_as_scram_sha_256() -> None:
    container = _sts()["spec"]["template"]["spec"]["containers"][0]
    env = env_of(container)
    assert env["POSTGRES_INITDB_ARGS"] == "--auth-host=scram-sha-256 --auth-local=trust"
    assert env["POSTGRES_HOST_AUTH_METHOD"] == "scram-sha-256"
    assert container["args"] == ["postgres", "-c", "password_encryption=scram-sha-256"]
    assert "md5" not in json.dumps(_sts())


def test_velero_hooks_only_with_backup() -> None:
    assert _sts()["spec"]["template"]["metadata"]["annotations"] == {
        "kubectl.kubernetes.io/default-container": "postgres"
    }
    annotations = _sts(backup={"enabled": True})["spec"]["template"]["metadata"]["annotations"]
    pre = json.loads(annotations["pre.hook.backup.velero.io/command"])
    assert pre[:2] == ["/bin/sh", "-c"] and "pg_dump" in pre[2] and DUMP_FILE in pre[2]
    # The socket, not the container's password: a credentials rotation removes that one meanwhile.
    assert "--host=/var/run/postgresql" in pre[2] and "PASSWORD" not in pre[2]
    assert annotations["pre.hook.backup.velero.io/container"] == "postgres"
    assert annotations["pre.hook.backup.velero.io/on-error"] == "Fail"
    assert "rm -f" in json.loads(annotations["post.hook.backup.velero.io/command"])[2]
    assert "backup.velero.io/backup-volumes" not in annotations
    fs = _sts(backup={"enabled": True, "volumeBackupMethod": "FileSystem"})["spec"]["template"]["metadata"]
    assert fs["annotations"]["backup.velero.io/backup-volumes"] == "data"


def test_external_database_renders_nothing() -> None:
    ctx = make_stack(database={"mode": "External", "credentials": {"secretRef": {"name": "rds"}}})
    assert postgres_objects(ctx) == []


def test_pod_runs_the_database_and_the_credentials_sync_sidecar() -> None:
    sts = _sts()
    assert list(_containers()) == ["postgres", "credentials-sync"]
    assert policy.hardening_violations(sts) == []
    mirror = "mirror.example.com/postgres:16.4-alpine"
    assert {c["image"] for c in _containers(database={"image": mirror}).values()} == {mirror}


def test_credentials_sync_reads_the_secret_as_files_and_talks_over_the_socket() -> None:
    sync = _containers()["credentials-sync"]
    assert sync["command"] == ["/bin/sh", "-c", CREDENTIALS_SYNC_SCRIPT]
    env = env_of(sync)
    assert env["CREDENTIALS_DIR"] == CREDENTIALS_MOUNT
    assert env["PGHOST"] == "/var/run/postgresql"
    assert "POSTGRES_PASSWORD" not in env  # env never follows a Secret update; the volume does
    assert sync["resources"] == {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}}
    assert sync["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["name"]: m for m in sync["volumeMounts"]}
    assert mounts["run"]["mountPath"] == "/var/run/postgresql"
    assert mounts["credentials"] == {"name": "credentials", "mountPath": CREDENTIALS_MOUNT, "readOnly": True}
    assert not any("subPath" in m for m in sync["volumeMounts"])
    volumes = {v["name"]: v for v in _sts()["spec"]["template"]["spec"]["volumes"]}
    assert volumes["credentials"]["secret"] == {
        "secretName": "shop-postgres",
        "items": [{"key": "username", "path": "username"}, {"key": "password", "path": "password"}],
        "defaultMode": 0o440,
    }


def test_credentials_sync_follows_a_referenced_secret() -> None:
    sts = _sts(database={"credentials": {"secretRef": {"name": "shop-db"}}})
    volumes = {v["name"]: v for v in sts["spec"]["template"]["spec"]["volumes"]}
    assert volumes["credentials"]["secret"]["secretName"] == "shop-db"


def test_credentials_sync_script_keeps_the_password_off_command_lines() -> None:
    # The password is read only by psql's backquoted `cat` of the file, inside a quoted here-document.
    assert '\\set pw `cat "$CREDENTIALS_DIR/password"`' in CREDENTIALS_SYNC_SCRIPT
    assert "<<'SQL'" in CREDENTIALS_SYNC_SCRIPT
    assert "PASSWORD :'pw'" in CREDENTIALS_SYNC_SCRIPT
    assert "SET password_encryption = 'scram-sha-256';" in CREDENTIALS_SYNC_SCRIPT
    assert " -c " not in CREDENTIALS_SYNC_SCRIPT.replace("/bin/sh -c", "")


def test_credentials_sync_probes_the_server_as_the_role_it_syncs() -> None:
    # Without a username pg_isready names the OS user (`postgres` for uid 70), a role initdb never made:
    # the server logs a FATAL "role does not exist" at every sync (seen on the real node).
    probes = [line for line in CREDENTIALS_SYNC_SCRIPT.splitlines() if "pg_isready" in line]
    assert probes and all('--username="$(cat "$dir/username")"' in line for line in probes), probes

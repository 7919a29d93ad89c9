"""Managed Postgres: a one-replica StatefulSet on a PVC, its headless Service, Velero backup hooks.

The data lives in a subdirectory of the volume (`PGDATA=.../pgdata`) because a fresh filesystem's
`lost+found` makes initdb refuse the mount root. The root filesystem is read-only; Postgres writes its
socket and lock to `/var/run/postgresql`, scratch to `/tmp`, and shared memory to a RAM-backed `/dev/shm`
(the container runtime's 64 MB default fails parallel queries).

Backups: before Velero copies the volume it runs `pg_dump` in the container (a pre hook) into the volume,
so every backup holds a consistent logical dump next to the raw data files; a post hook removes the dump
from the live volume again.
"""

import json

from webstack_operator import labels
from webstack_operator.builders.common import (
    TMP_VOLUME,
    Manifest,
    container_security_context,
    empty_dir,
    exec_probe,
    object_meta,
    pod_spec,
    quantity,
    resources,
    service,
)
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.identity import service_account_name

POSTGRES_UID = 70  # the `postgres` user of the official alpine image
POSTGRES_GID = 70
POSTGRES_PORT = 5432
DATA_VOLUME = "data"
DATA_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{DATA_MOUNT}/pgdata"
DUMP_DIR = f"{DATA_MOUNT}/backup"
DUMP_FILE = f"{DUMP_DIR}/webstack.pgdump"
CONTAINER = "postgres"

_PG_ISREADY = 'pg_isready --host=127.0.0.1 --port=5432 --username="$POSTGRES_USER" --dbname="$POSTGRES_DB"'
# Dump to a temporary name and rename, so a failed dump never leaves a truncated file that looks complete.
_DUMP = (
    f"mkdir -p {DUMP_DIR} && "
    f'PGPASSWORD="$POSTGRES_PASSWORD" pg_dump --host=127.0.0.1 --username="$POSTGRES_USER" '
    f'--dbname="$POSTGRES_DB" --format=custom --file={DUMP_FILE}.tmp && mv {DUMP_FILE}.tmp {DUMP_FILE}'
)
_REMOVE_DUMP = f"rm -f {DUMP_FILE} {DUMP_FILE}.tmp"


def statefulset_name(ctx: StackContext) -> str:
    """Name of the StatefulSet, its Service and the host the backend connects to."""
    return ctx.child("postgres")


def postgres_service(ctx: StackContext) -> Manifest:
    """Headless governing Service; `PGHOST` resolves to the (single) ready pod."""
    ports = [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres", "protocol": "TCP"}]
    return service(ctx, statefulset_name(ctx), labels.DATABASE, ports, headless=True)


def _backup_annotations(ctx: StackContext) -> dict[str, str]:
    if not ctx.backup_enabled:
        return {}
    annotations = {
        "pre.hook.backup.velero.io/container": CONTAINER,
        "pre.hook.backup.velero.io/command": json.dumps(["/bin/sh", "-c", _DUMP]),
        "pre.hook.backup.velero.io/on-error": "Fail",
        "pre.hook.backup.velero.io/timeout": "15m",
        "post.hook.backup.velero.io/container": CONTAINER,
        "post.hook.backup.velero.io/command": json.dumps(["/bin/sh", "-c", _REMOVE_DUMP]),
    }
    if ctx.spec.backup.volume_backup_method == "FileSystem":
        # Opt in the data volume only: file-system backup of the emptyDirs would be noise.
        annotations["backup.velero.io/backup-volumes"] = DATA_VOLUME
    return annotations


def _credential_env(ctx: StackContext) -> list[Manifest]:
    secret = ctx.credentials_secret
    return [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for env, key in (
            ("POSTGRES_USER", "username"),
            ("POSTGRES_PASSWORD", "password"),
            ("POSTGRES_DB", "database"),
        )
    ]


def postgres_statefulset(ctx: StackContext) -> Manifest:
    """The database itself."""
    db = ctx.spec.database
    selector = labels.selector_labels(ctx.name, labels.DATABASE)
    container = {
        "name": CONTAINER,
        "image": db.image or ctx.settings.postgres_image(db.version),
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT, "protocol": "TCP"}],
        "env": [*_credential_env(ctx), {"name": "PGDATA", "value": PGDATA}],
        "resources": resources(db.resources),
        "securityContext": container_security_context(),
        # First start runs initdb; allow it five minutes before liveness takes over.
        "startupProbe": exec_probe(["/bin/sh", "-c", _PG_ISREADY], period=5, failures=60),
        "livenessProbe": exec_probe(["/bin/sh", "-c", _PG_ISREADY], period=10, failures=6),
        "readinessProbe": exec_probe(["/bin/sh", "-c", _PG_ISREADY], period=5, failures=3),
        "volumeMounts": [
            {"name": DATA_VOLUME, "mountPath": DATA_MOUNT},
            {"name": "run", "mountPath": "/var/run/postgresql"},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
            {"name": "shm", "mountPath": "/dev/shm"},
        ],
    }
    template_meta: Manifest = {"labels": labels.standard_labels(ctx.name, labels.DATABASE)}
    annotations = _backup_annotations(ctx)
    if annotations:
        template_meta["annotations"] = annotations
    claim_spec: Manifest = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": quantity(db.storage.size)}},
    }
    if db.storage.storage_class_name is not None:
        claim_spec["storageClassName"] = db.storage.storage_class_name
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": object_meta(ctx, statefulset_name(ctx), labels.DATABASE),
        "spec": {
            "replicas": 1,
            "serviceName": statefulset_name(ctx),
            "selector": {"matchLabels": selector},
            "podManagementPolicy": "OrderedReady",
            "updateStrategy": {"type": "RollingUpdate"},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": db.deletion_policy,
                "whenScaled": "Retain",
            },
            "template": {
                "metadata": template_meta,
                "spec": pod_spec(
                    ctx,
                    service_account=service_account_name(ctx, labels.DATABASE),
                    uid=POSTGRES_UID,
                    gid=POSTGRES_GID,
                    # A fast shutdown checkpoints first; give it time rather than corrupting nothing but
                    # forcing crash recovery on the next start.
                    termination_grace_period_seconds=60,
                    containers=[container],
                    volumes=[
                        empty_dir("run", "16Mi"),
                        empty_dir(TMP_VOLUME, "256Mi"),
                        empty_dir("shm", "256Mi", memory=True),
                    ],
                ),
            },
            "volumeClaimTemplates": [
                {
                    "apiVersion": "v1",
                    "kind": "PersistentVolumeClaim",
                    "metadata": {
                        "name": DATA_VOLUME,
                        "labels": labels.standard_labels(ctx.name, labels.DATABASE),
                    },
                    "spec": claim_spec,
                }
            ],
        },
    }


def postgres_objects(ctx: StackContext) -> list[Manifest]:
    """Everything Managed Postgres needs (nothing for an External database)."""
    if not ctx.database_managed:
        return []
    return [postgres_service(ctx), postgres_statefulset(ctx)]

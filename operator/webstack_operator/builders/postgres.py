"""Managed Postgres: a one-replica StatefulSet on a PVC, its two Services, Velero backup hooks.

Two Services select the same pod. The headless `<stack>-postgres` is the StatefulSet's governing Service
(`serviceName`, immutable; it gives the pod its DNS subdomain). Clients connect to the ClusterIP
`<stack>-postgres-rw` instead: a headless name resolves only to *ready* pods, so while Postgres starts or
restarts it answers NXDOMAIN, and cluster DNS caches that (and the old pod's address) for its TTL (30 s
with kubeadm's Corefile) — clients then cannot reach a Postgres that is already back. A virtual IP lives
as long as the Service: the name always resolves, and kube-proxy sends new connections to the ready pod
within its sync (or refuses them at once while there is none).

The data lives in a subdirectory of the volume (`PGDATA=.../pgdata`) because a fresh filesystem's
`lost+found` makes initdb refuse the mount root. The root filesystem is read-only; Postgres writes its
socket and lock to `/var/run/postgresql`, scratch to `/tmp`, and shared memory to a RAM-backed `/dev/shm`
(the container runtime's 64 MB default fails parallel queries).

Backups: before Velero copies the volume it runs `pg_dump` in the container (a pre hook) into the volume,
so every backup holds a consistent logical dump next to the raw data files; a post hook removes the dump
from the live volume again.

Credentials: the image reads `POSTGRES_PASSWORD` only when initdb fills an empty data directory, so a
credentials Secret that is regenerated, rotated or restored with another password would lock the backend out
of the data. The `credentials-sync` sidecar closes that gap: it mounts the Secret as a volume (which, unlike
env, follows Secret updates within the kubelet's sync period) and, whenever the password file changes, sets
the role's password inside Postgres over the unix socket (`CREDENTIALS_SYNC_SCRIPT`).

Passwords are stored and checked as SCRAM-SHA-256, never MD5, whatever the image's defaults become: initdb
writes `scram-sha-256` for TCP connections (`POSTGRES_INITDB_ARGS`; the unix socket stays `trust`, for the
sidecar and the probes inside the pod), the line the image's entrypoint appends for other hosts says the
same (`POSTGRES_HOST_AUTH_METHOD`), and the server hashes every new password with it
(`password_encryption`).
"""

import json

from webstack_operator.builders.container_resources import quantity, resources
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.hardening import TMP_VOLUME, container_security_context, empty_dir, pod_spec
from webstack_operator.builders.identity import service_account_name
from webstack_operator.builders.metadata import object_meta
from webstack_operator.builders.placement import scheduling
from webstack_operator.builders.probes import exec_probe
from webstack_operator.builders.services import service
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

POSTGRES_UID = 70  # the `postgres` user of the official alpine image
POSTGRES_GID = 70
POSTGRES_PORT = 5432
DATA_VOLUME = "data"
DATA_MOUNT = "/var/lib/postgresql/data"
PGDATA = f"{DATA_MOUNT}/pgdata"
DUMP_DIR = f"{DATA_MOUNT}/backup"
DUMP_FILE = f"{DUMP_DIR}/webstack.pgdump"
CONTAINER = "postgres"
SYNC_CONTAINER = "credentials-sync"
CREDENTIALS_VOLUME = "credentials"
CREDENTIALS_MOUNT = "/etc/webstack/credentials"
SOCKET_DIR = "/var/run/postgresql"
SYNC_INTERVAL_SECONDS = 10
PASSWORD_ENCRYPTION = "scram-sha-256"
INITDB_ARGS = f"--auth-host={PASSWORD_ENCRYPTION} --auth-local=trust"

_PG_ISREADY = 'pg_isready --host=127.0.0.1 --port=5432 --username="$POSTGRES_USER" --dbname="$POSTGRES_DB"'
# Dump to a temporary name and rename, so a failed dump never leaves a truncated file that looks complete.
# Over the unix socket (trusted inside the pod, like the sidecar's), not TCP with $POSTGRES_PASSWORD: the
# container's environment is read once, at its start, and a credentials rotation (reconcile/
# credentials_rotation.py) removes that password from the database while the pod runs on.
_DUMP = (
    f"mkdir -p {DUMP_DIR} && "
    f'pg_dump --host={SOCKET_DIR} --username="$POSTGRES_USER" '
    f'--dbname="$POSTGRES_DB" --format=custom --file={DUMP_FILE}.tmp && mv {DUMP_FILE}.tmp {DUMP_FILE}'
)
_REMOVE_DUMP = f"rm -f {DUMP_FILE} {DUMP_FILE}.tmp"

# The credentials-sync loop, POSIX sh (busybox ash in the alpine image). It connects as the role itself over
# the unix socket without a password: the image's docker-entrypoint.sh runs `initdb --username=...
# --pwfile=... $POSTGRES_INITDB_ARGS` (docker_init_database_dir), and INITDB_ARGS keeps `local all all trust`
# while TCP gets scram-sha-256; pg_setup_hba_conf appends `host all all all $POSTGRES_HOST_AUTH_METHOD`
# (docker-library/postgres, 16/alpine3.23/docker-entrypoint.sh). The role is the bootstrap superuser.
#
# The password never reaches a command line, the container log or the server log: psql reads its commands
# from stdin (a quoted here-document, not expanded by this shell), loads the password into a psql variable
# with a backquoted `cat` of the file (whose argv is only the path), and sends it quoted as a literal
# (`:'pw'`). The session first turns off every setting that would log the statement's text (also on error),
# and pins scram-sha-256 so a cluster configured for md5 cannot downgrade the stored verifier. Failures are
# logged and retried on the next tick; the loop never exits on its own (no crash loop), only on SIGTERM.
# pg_isready names the role too: its default, the OS user (`postgres` for uid 70), is no role of this
# cluster, and the server would log `FATAL: role "postgres" does not exist` at every sync.
CREDENTIALS_SYNC_SCRIPT = r"""set -u
dir="${CREDENTIALS_DIR:?CREDENTIALS_DIR must name the directory of the mounted credentials Secret}"
interval="${SYNC_INTERVAL_SECONDS:-10}"
applied=""
trap 'exit 0' TERM INT
while :; do
    if ! [ -s "$dir/username" ] || ! [ -s "$dir/password" ]; then
        echo "credentials-sync: $dir/username or /password is missing or empty; retrying in ${interval}s" >&2
    elif ! seen="$(sha256sum "$dir/username" "$dir/password")"; then
        echo "credentials-sync: cannot read $dir; retrying in ${interval}s" >&2
    elif [ "$seen" = "$applied" ]; then
        :
    elif ! pg_isready --quiet --username="$(cat "$dir/username")" --dbname=postgres; then
        echo "credentials-sync: waiting for the server on ${PGHOST:-the default socket}"
    else
        role="$(cat "$dir/username")"
        if psql --no-psqlrc --quiet --no-password --set=ON_ERROR_STOP=1 --set=role="$role" \
            --username="$role" --dbname=postgres <<'SQL'
\set VERBOSITY terse
\set SHOW_CONTEXT never
SET log_statement = 'none';
SET log_min_duration_statement = -1;
SET log_min_duration_sample = -1;
SET log_transaction_sample_rate = 0;
SET log_min_error_statement = 'panic';
SET statement_timeout = '10s';
SET password_encryption = 'scram-sha-256';
\set pw `cat "$CREDENTIALS_DIR/password"`
ALTER ROLE :"role" PASSWORD :'pw';
SQL
        then
            applied="$seen"
            echo "credentials-sync: password of role $role synced"
        else
            echo "credentials-sync: setting the password of role $role failed; retrying in ${interval}s" >&2
        fi
    fi
    sleep "$interval" &
    wait $!
done
"""


def statefulset_name(ctx: StackContext) -> str:
    """Name of the StatefulSet and of its headless governing Service; clients use `client_service_name`."""
    return ctx.child("postgres")


def client_service_name(ctx: StackContext) -> str:
    """The host clients connect to (`PGHOST`): the ClusterIP Service, whose name never goes NXDOMAIN."""
    return ctx.child("postgres-rw")


def _ports() -> list[JSON]:
    return [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres", "protocol": "TCP"}]


def postgres_service(ctx: StackContext) -> JSON:
    """Headless governing Service: names the pod (`serviceName`); kept as it was, `clusterIP` is immutable."""
    return service(ctx, statefulset_name(ctx), labels.DATABASE, _ports(), headless=True)


def postgres_client_service(ctx: StackContext) -> JSON:
    """ClusterIP Service for clients; same selector and ports as the headless one (see the module doc).

    The selector equal to the database NetworkPolicy peer's pod selector and the port equal to the container
    port are what lets EKS's network policy agent (which filters before kube-proxy's DNAT) allow the VIP.
    """
    return service(ctx, client_service_name(ctx), labels.DATABASE, _ports())


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


def _credential_env(ctx: StackContext) -> list[JSON]:
    secret = ctx.credentials_secret
    return [
        {"name": env, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}
        for env, key in (
            ("POSTGRES_USER", "username"),
            ("POSTGRES_PASSWORD", "password"),
            ("POSTGRES_DB", "database"),
        )
    ]


def credentials_sync_container(ctx: StackContext, image: str) -> JSON:
    """The sidecar that sets the role's password from the (mounted) credentials Secret; see the module doc."""
    return {
        "name": SYNC_CONTAINER,
        "image": image,  # the server's own image: psql and pg_isready of the same major version
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", CREDENTIALS_SYNC_SCRIPT],
        "env": [
            {"name": "CREDENTIALS_DIR", "value": CREDENTIALS_MOUNT},
            {"name": "SYNC_INTERVAL_SECONDS", "value": str(SYNC_INTERVAL_SECONDS)},
            {"name": "PGHOST", "value": SOCKET_DIR},
            {"name": "PGPORT", "value": str(POSTGRES_PORT)},
            {"name": "PGCONNECT_TIMEOUT", "value": "5"},
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "32Mi"}},
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "run", "mountPath": SOCKET_DIR},
            {"name": CREDENTIALS_VOLUME, "mountPath": CREDENTIALS_MOUNT, "readOnly": True},
        ],
    }


def _credentials_volume(ctx: StackContext) -> JSON:
    # Whole keys as files, never subPath (a subPath mount does not follow Secret updates). Readable by the
    # pod's group (fsGroup) only.
    return {
        "name": CREDENTIALS_VOLUME,
        "secret": {
            "secretName": ctx.credentials_secret,
            "items": [{"key": "username", "path": "username"}, {"key": "password", "path": "password"}],
            "defaultMode": 0o440,
        },
    }


def postgres_container(ctx: StackContext, image: str) -> JSON:
    """The server: data in a subdirectory of the volume, new passwords hashed with SCRAM (module doc)."""
    db = ctx.spec.database
    return {
        "name": CONTAINER,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        # The image's CMD, with the hashing of new passwords pinned (see the module doc).
        "args": ["postgres", "-c", f"password_encryption={PASSWORD_ENCRYPTION}"],
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT, "protocol": "TCP"}],
        "env": [
            *_credential_env(ctx),
            {"name": "PGDATA", "value": PGDATA},
            {"name": "POSTGRES_INITDB_ARGS", "value": INITDB_ARGS},
            {"name": "POSTGRES_HOST_AUTH_METHOD", "value": PASSWORD_ENCRYPTION},
        ],
        "resources": resources(db.resources),
        "securityContext": container_security_context(),
        # First start runs initdb; allow it five minutes before liveness takes over.
        "startupProbe": exec_probe(["/bin/sh", "-c", _PG_ISREADY], period=5, failures=60),
        "livenessProbe": exec_probe(["/bin/sh", "-c", _PG_ISREADY], period=10, failures=6),
        "readinessProbe": exec_probe(["/bin/sh", "-c", _PG_ISREADY], period=5, failures=3),
        "volumeMounts": [
            {"name": DATA_VOLUME, "mountPath": DATA_MOUNT},
            {"name": "run", "mountPath": SOCKET_DIR},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
            {"name": "shm", "mountPath": "/dev/shm"},
        ],
    }


def _data_claim(ctx: StackContext) -> JSON:
    """The volume claim template of the data volume: the StatefulSet makes one claim from it per pod."""
    storage = ctx.spec.database.storage
    claim_spec: JSON = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": quantity(storage.size)}},
    }
    if storage.storage_class_name is not None:
        claim_spec["storageClassName"] = storage.storage_class_name
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": DATA_VOLUME, "labels": labels.standard_labels(ctx.name, labels.DATABASE)},
        "spec": claim_spec,
    }


def postgres_statefulset(ctx: StackContext) -> JSON:
    """The database itself, and the sidecar that keeps its role's password equal to the Secret's."""
    db = ctx.spec.database
    selector = labels.selector_labels(ctx.name, labels.DATABASE)
    image = db.image or ctx.settings.postgres_image(db.version)
    template_meta: JSON = {
        "labels": labels.standard_labels(ctx.name, labels.DATABASE),
        # `kubectl exec/logs shop-postgres-0` without `-c` mean the database, not the sidecar.
        "annotations": {"kubectl.kubernetes.io/default-container": CONTAINER, **_backup_annotations(ctx)},
    }
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
                    containers=[postgres_container(ctx, image), credentials_sync_container(ctx, image)],
                    volumes=[
                        empty_dir("run", "16Mi"),
                        empty_dir(TMP_VOLUME, "256Mi"),
                        empty_dir("shm", "256Mi", memory=True),
                        _credentials_volume(ctx),
                    ],
                    extra=scheduling(ctx, labels.DATABASE, db.placement),
                ),
            },
            "volumeClaimTemplates": [_data_claim(ctx)],
        },
    }


def postgres_objects(ctx: StackContext) -> list[JSON]:
    """Everything Managed Postgres needs (nothing for an External database)."""
    if not ctx.database_managed:
        return []
    return [postgres_service(ctx), postgres_client_service(ctx), postgres_statefulset(ctx)]

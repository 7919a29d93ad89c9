"""The operator's own logical backup: a CronJob running `pg_dump -Fc` on the backup schedule into a volume the
user names, keeping the newest `keep` dumps and a manifest of their times.

Why beside Velero: Velero's dump (the Postgres pre-hook, builders/postgres.py) lives inside a volume snapshot
that only a running Velero server can restore. These dumps are plain `pg_restore` archives in a claim the
user owns, so a restore needs nothing but the Postgres image; the restore drill (builders/drill.py) proves
that they restore.

The volume holds `webstack-<UTC stamp>.pgdump` files and `dumps.manifest`, one line per kept dump, newest
first: `<time>\\t<file>\\t<bytes>`. `<time>` is when the dump started (the data is at least that fresh: it
is the RPO's reference). A dump is written to a dot-file and renamed, and the manifest likewise, so a reader
never sees a half-written dump or manifest; a failed run leaves the previous ones as they were.

The Jobs the CronJob makes carry the stack's selector labels but not `managed-by`: they are the CronJob's,
never the operator's children (the watches skip them, so pruning never touches them).
"""

from webstack_operator.builders.container_resources import quantity
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.hardening import TMP_VOLUME, container_security_context, empty_dir, pod_spec
from webstack_operator.builders.metadata import object_meta
from webstack_operator.builders.placement import scheduling
from webstack_operator.builders.postgres import POSTGRES_GID, POSTGRES_PORT, POSTGRES_UID, client_service_name
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

COMPONENT = "dump"
CONTAINER = "pg-dump"
BACKUP_VOLUME = "backup"
BACKUP_MOUNT = "/backup"
MANIFEST = "dumps.manifest"
# A dump that takes longer is stuck (a lock, a dead server): the next schedule tries again.
ACTIVE_DEADLINE_SECONDS = 3600

# POSIX sh (busybox ash in the alpine image, dash in the lab image). `set -e`: any failed step fails the Job
# (and leaves the previous dumps and manifest untouched); the trap removes this run's partial files.
DUMP_SCRIPT = r"""set -eu
dir="${BACKUP_DIR:?}"
keep="${KEEP:?}"
stamp="$(date -u +%Y%m%dT%H%M%SZ)"
taken="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
file="webstack-$stamp.pgdump"
trap 'rm -f "$dir/.$file.tmp" "$dir/.manifest.tmp"' EXIT
if [ -n "${DATABASE_URL:-}" ]; then set -- "--dbname=$DATABASE_URL"; fi
waited=0  # a NetworkPolicy agent may admit a new pod (or a changed policy) only after a while
until pg_isready --quiet --timeout=5 "$@"; do
    waited=$((waited + 5))
    if [ "$waited" -ge "${DATABASE_WAIT_SECONDS:-120}" ]; then
        echo "the database did not answer within ${waited}s" >&2
        exit 1
    fi
    sleep 5
done
pg_dump --format=custom --no-password "$@" --file="$dir/.$file.tmp"
mv "$dir/.$file.tmp" "$dir/$file"
bytes="$(wc -c < "$dir/$file" | tr -d ' ')"
{ printf '%s\t%s\t%s\n' "$taken" "$file" "$bytes"; cat "$dir/dumps.manifest" 2>/dev/null || true; } \
    | head -n "$keep" > "$dir/.manifest.tmp"
mv "$dir/.manifest.tmp" "$dir/dumps.manifest"
tab="$(printf '\t')"
for old in "$dir"/webstack-*.pgdump; do
    [ -e "$old" ] || continue
    grep -q "$tab${old##*/}$tab" "$dir/dumps.manifest" || rm -f "$old"
done
echo "dump $file: $bytes bytes, taken $taken; $(wc -l < "$dir/dumps.manifest") dump(s) kept"
"""


def dump_name(ctx: StackContext) -> str:
    return ctx.child("dump")


def database_env(ctx: StackContext) -> list[JSON]:
    """How a libpq client in the stack's namespace reaches the live database: PG* variables (Managed) or
    the Secret's `uri` as DATABASE_URL (External), both from the credentials Secret, never a literal."""
    secret = ctx.credentials_secret

    def from_secret(name: str, key: str) -> JSON:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}

    if not ctx.database_managed:
        return [from_secret("DATABASE_URL", "uri"), {"name": "PGCONNECT_TIMEOUT", "value": "10"}]
    return [
        {"name": "PGHOST", "value": client_service_name(ctx)},
        {"name": "PGPORT", "value": str(POSTGRES_PORT)},
        from_secret("PGUSER", "username"),
        from_secret("PGPASSWORD", "password"),
        from_secret("PGDATABASE", "database"),
        {"name": "PGCONNECT_TIMEOUT", "value": "10"},
    ]


def postgres_client_image(ctx: StackContext) -> str:
    """The database's own image: pg_dump, pg_restore and psql of the server's major version."""
    db = ctx.spec.database
    return db.image or ctx.settings.postgres_image(db.version)


def client_pod_spec(ctx: StackContext, container: JSON, volumes: list[JSON], component: str) -> JSON:
    """A hardened one-shot pod running as the Postgres image's user, placed like the database."""
    placed = scheduling(ctx, component, ctx.spec.database.placement)
    return pod_spec(
        ctx,
        service_account="default",  # no API token is mounted, no IAM role: it needs neither
        uid=POSTGRES_UID,
        gid=POSTGRES_GID,
        containers=[container],
        volumes=[empty_dir(TMP_VOLUME, "1Gi"), *volumes],
        extra={
            "restartPolicy": "Never",
            **{k: placed[k] for k in ("nodeSelector", "tolerations") if k in placed},
        },
    )


def dump_cronjob(ctx: StackContext) -> JSON:
    dump = ctx.spec.backup.dump
    assert dump is not None
    container = {
        "name": CONTAINER,
        "image": postgres_client_image(ctx),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", DUMP_SCRIPT],
        "env": [
            *database_env(ctx),
            {"name": "BACKUP_DIR", "value": BACKUP_MOUNT},
            {"name": "KEEP", "value": str(dump.keep)},
        ],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": quantity("512Mi")}},
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": BACKUP_VOLUME, "mountPath": BACKUP_MOUNT},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
        ],
    }
    volume = {"name": BACKUP_VOLUME, "persistentVolumeClaim": {"claimName": dump.claim_name}}
    pod_labels = labels.selector_labels(ctx.name, COMPONENT)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": object_meta(ctx, dump_name(ctx), COMPONENT),
        "spec": {
            "schedule": ctx.spec.backup.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": pod_labels},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": ACTIVE_DEADLINE_SECONDS,
                    "template": {
                        "metadata": {"labels": pod_labels},
                        "spec": client_pod_spec(ctx, container, [volume], COMPONENT),
                    },
                },
            },
        },
    }


def dump_objects(ctx: StackContext) -> list[JSON]:
    """The CronJob, when backups are on and a dump volume is named (Velero or not)."""
    if not ctx.spec.backup.enabled or ctx.spec.backup.dump is None:
        return []
    return [dump_cronjob(ctx)]

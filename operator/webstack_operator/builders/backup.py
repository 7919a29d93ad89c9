"""The Velero Schedule: the stack's objects, its credentials and its database volume, on a cron schedule.

It lives in Velero's namespace, where an owner reference to the WebStack cannot point; labels name the
stack instead (`app.kubernetes.io/instance` + `webstack.dev/stack-namespace` + `webstack.dev/stack-uid`)
and the operator deletes it with a finalizer. The label selector picks every object the operator made for
this stack, pods included (Velero runs the Postgres pod's `pg_dump` hook only on pods in the backup).
"""

from webstack_operator.builders.checksums import short_hash
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.metadata import bounded_name
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

# Velero labels each Backup with `velero.io/schedule-name`, a label value: at most 63 characters.
MAX_SCHEDULE_NAME = 63


def schedule_name(ctx: StackContext) -> str:
    """`<namespace>-<name>-<hash of namespace/name>`: unique in Velero's namespace (`a-b/c` and `a/b-c`
    would both be `a-b-c` without the hash), shortened with a hash when too long."""
    stack = f"{ctx.namespace}/{ctx.name}"
    return bounded_name(f"{ctx.namespace}-{ctx.name}-{short_hash(stack, 6)}", MAX_SCHEDULE_NAME)


def velero_schedule(ctx: StackContext) -> JSON:
    """The Schedule."""
    backup = ctx.spec.backup
    snapshot = backup.volume_backup_method == "Snapshot"
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Schedule",
        "metadata": {
            "name": schedule_name(ctx),
            "namespace": ctx.settings.velero_namespace,
            "labels": labels.cross_namespace_labels(
                ctx.name, ctx.namespace, labels.BACKUP, ctx.owner.uid if ctx.owner else None
            ),
        },
        "spec": {
            "schedule": backup.schedule,
            "useOwnerReferencesInBackup": False,
            "template": {
                "includedNamespaces": [ctx.namespace],
                "labelSelector": {"matchLabels": labels.stack_labels(ctx.name)},
                # Left unset on purpose: Velero then includes the PersistentVolumes behind the selected PVCs;
                # `false` would leave the database's volume out of the backup (vmware-tanzu/velero#5745).
                "storageLocation": backup.storage_location,
                "ttl": backup.ttl,
                "snapshotVolumes": snapshot,
                "defaultVolumesToFsBackup": False,
            },
        },
    }


def backup_objects(ctx: StackContext) -> list[JSON]:
    """The Schedule, when backups are on and Velero is installed."""
    return [velero_schedule(ctx)] if ctx.backup_enabled else []

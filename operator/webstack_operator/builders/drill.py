"""The restore drill's objects: a scratch Postgres in a scratch namespace, and the restore client's Job.

Pure, like every builder: the caller (reconcile/drill_action.py) chooses the run's id, start time and the
scratch database's password, and creates and deletes these objects; none of them is a rendered child.

Where things run, and why:
- The dumps are in a claim in the stack's namespace, which no pod elsewhere can mount, so the restore
  client (the Job `<stack>-drill`) runs there, mounts the claim read-only, and connects out to the scratch
  database. Its NetworkPolicy (`<stack>-drill`, rendered with the stack's: builders/network.py) lets it reach
  only the cluster DNS, the scratch Postgres and the live database (read for the app's schema version).
- The scratch Postgres is a one-replica Deployment and a Service in a namespace of its own
  (`wsdrill-<ns>-<name>-<hash>`):
  no Ingress, no IAM role, no ServiceMonitor, no name of the stack's, so it collides with nothing, and
  deleting that namespace removes every trace of the restored data. Its policies deny everything except
  the restore client's connections to port 5432; its data is an emptyDir.
- Nothing here carries `managed-by`: the operator's watches (and so pruning and status) never see them.
  The Job has a non-controller owner reference to the WebStack: garbage collection removes it with the
  stack; the client's Secret (the scratch password) is owned by that Job and goes with it. The scratch
  namespace cannot have one (cluster-scoped); the operator deletes it at the end of every drill, before
  the next one if one was left, and when the WebStack is deleted (reconcile/deletion.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from webstack_operator.builders.checksums import short_hash
from webstack_operator.builders.container_resources import quantity, resources
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.drill_script import DRILL_SCRIPT
from webstack_operator.builders.dump import (
    BACKUP_MOUNT,
    BACKUP_VOLUME,
    client_pod_spec,
    database_env,
    postgres_client_image,
)
from webstack_operator.builders.hardening import TMP_VOLUME, container_security_context, empty_dir, pod_spec
from webstack_operator.builders.metadata import bounded_name
from webstack_operator.builders.placement import scheduling
from webstack_operator.builders.postgres import (
    INITDB_ARGS,
    PASSWORD_ENCRYPTION,
    POSTGRES_GID,
    POSTGRES_PORT,
    POSTGRES_UID,
    SOCKET_DIR,
)
from webstack_operator.builders.probes import exec_probe
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

COMPONENT = "drill"  # the restore client's pods
SCRATCH_COMPONENT = "drill-database"  # the scratch Postgres
SCRATCH_SERVICE = "postgres"
SCRATCH_SECRET = "postgres"
DRILL_ID = "webstack.dev/drill-id"  # on the Job and the scratch namespace: which run they belong to
DRILL_STARTED = "webstack.dev/drill-started"  # on the Job: when the run started (RTO's origin)
# The whole drill (scratch Postgres start, restore, checks) ends within this, or fails DeadlineExceeded.
DEADLINE_SECONDS = 1200
SCRATCH_WAIT_SECONDS = 600
SAMPLE_ROWS = 20
_SCRATCH_PGDATA = "/var/lib/postgresql/data/pgdata"


@dataclass(frozen=True)
class DrillRun:
    """One drill: `id` (the request, or the scheduled time), when it `started`, the scratch `password`."""

    id: str
    started: str
    password: str


def scratch_namespace_name(namespace: str, name: str) -> str:
    """Unique per stack (the hash tells `a-b/c` from `a/b-c`), prefixed so it is recognisably a drill's."""
    return bounded_name(f"wsdrill-{namespace}-{name}-{short_hash(f'{namespace}/{name}', 6)}", 63)


def scratch_namespace(ctx: StackContext) -> str:
    return scratch_namespace_name(ctx.namespace, ctx.name)


def drill_job_name(ctx: StackContext) -> str:
    return ctx.child("drill")


def scratch_host(ctx: StackContext) -> str:
    return f"{SCRATCH_SERVICE}.{scratch_namespace(ctx)}.svc"


def _scratch_labels(ctx: StackContext, component: str) -> dict[str, str]:
    """Which drill, without `managed-by` (see the module doc)."""
    return {
        labels.PART_OF: labels.PART_OF_VALUE,
        labels.INSTANCE: ctx.name,
        labels.COMPONENT: component,
        labels.STACK_NAMESPACE: ctx.namespace,
    }


def scratch_namespace_object(ctx: StackContext, run: DrillRun) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": scratch_namespace(ctx),
            "labels": {
                **_scratch_labels(ctx, COMPONENT),
                "pod-security.kubernetes.io/enforce": "restricted",
            },
            "annotations": {DRILL_ID: run.id},
        },
    }


def _in_scratch(ctx: StackContext, kind: str, api_version: str, name: str, component: str) -> JSON:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {
            "name": name,
            "namespace": scratch_namespace(ctx),
            "labels": _scratch_labels(ctx, component),
        },
    }


def scratch_policies(ctx: StackContext) -> list[JSON]:
    """Nothing in or out of the scratch namespace, except the restore client to Postgres's port."""
    deny = _in_scratch(ctx, "NetworkPolicy", "networking.k8s.io/v1", "default-deny", COMPONENT)
    deny["spec"] = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    allow = _in_scratch(ctx, "NetworkPolicy", "networking.k8s.io/v1", "restore-client", COMPONENT)
    client = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ctx.namespace}},
        "podSelector": {"matchLabels": labels.selector_labels(ctx.name, COMPONENT)},
    }
    allow["spec"] = {
        "podSelector": {"matchLabels": labels.selector_labels(ctx.name, SCRATCH_COMPONENT)},
        "policyTypes": ["Ingress", "Egress"],
        "ingress": [{"from": [client], "ports": [{"protocol": "TCP", "port": POSTGRES_PORT}]}],
        "egress": [],
    }
    return [deny, allow]


def scratch_secret(ctx: StackContext, run: DrillRun) -> JSON:
    """The scratch database's password, for the scratch Postgres."""
    secret = _in_scratch(ctx, "Secret", "v1", SCRATCH_SECRET, SCRATCH_COMPONENT)
    return {**secret, "type": "Opaque", "stringData": {"password": run.password}}


def client_secret(ctx: StackContext, run: DrillRun, job: JSON) -> JSON:
    """The same password for the restore client, owned by its Job (`job` as created: its UID)."""
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"]}
    meta = {
        "name": drill_job_name(ctx),
        "namespace": ctx.namespace,
        "labels": _scratch_labels(ctx, COMPONENT),
        "ownerReferences": [{**owner, "uid": job["metadata"]["uid"], "controller": True}],
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": meta,
        "type": "Opaque",
        "stringData": {"password": run.password},
    }


def scratch_postgres(ctx: StackContext) -> JSON:
    """The scratch database: the live one's image and resources, its data in an emptyDir."""
    deployment = _in_scratch(ctx, "Deployment", "apps/v1", SCRATCH_SERVICE, SCRATCH_COMPONENT)
    ready = exec_probe(
        ["/bin/sh", "-c", "pg_isready --host=127.0.0.1 --username=drill --dbname=drill"], period=2, failures=3
    )
    container = {
        "name": "postgres",
        "image": postgres_client_image(ctx),
        "imagePullPolicy": "IfNotPresent",
        "args": ["postgres", "-c", f"password_encryption={PASSWORD_ENCRYPTION}"],
        "ports": [{"name": "postgres", "containerPort": POSTGRES_PORT, "protocol": "TCP"}],
        "env": [
            {"name": "POSTGRES_USER", "value": "drill"},
            {"name": "POSTGRES_DB", "value": "drill"},
            {
                "name": "POSTGRES_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": SCRATCH_SECRET, "key": "password"}},
            },
            {"name": "PGDATA", "value": _SCRATCH_PGDATA},
            {"name": "POSTGRES_INITDB_ARGS", "value": INITDB_ARGS},
            {"name": "POSTGRES_HOST_AUTH_METHOD", "value": PASSWORD_ENCRYPTION},
        ],
        "resources": resources(ctx.spec.database.resources),
        "securityContext": container_security_context(),
        "readinessProbe": ready,
        "volumeMounts": [
            {"name": "data", "mountPath": "/var/lib/postgresql/data"},
            {"name": "run", "mountPath": SOCKET_DIR},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
            {"name": "shm", "mountPath": "/dev/shm"},
        ],
    }
    size = quantity(ctx.spec.database.storage.size)
    spec = pod_spec(
        ctx,
        service_account="default",
        uid=POSTGRES_UID,
        gid=POSTGRES_GID,
        containers=[container],
        volumes=[
            empty_dir("data", str(size)),
            empty_dir("run", "16Mi"),
            empty_dir(TMP_VOLUME, "256Mi"),
            empty_dir("shm", "256Mi", memory=True),
        ],
        extra=_placement(ctx),
    )
    selector = labels.selector_labels(ctx.name, SCRATCH_COMPONENT)
    deployment["spec"] = {
        "replicas": 1,
        "selector": {"matchLabels": selector},
        "template": {
            "metadata": {"labels": {**selector, labels.STACK_NAMESPACE: ctx.namespace}},
            "spec": spec,
        },
    }
    return deployment


def _placement(ctx: StackContext) -> JSON:
    """Where the live database may run, the scratch one may too (the same nodes have its image)."""
    placed = scheduling(ctx, SCRATCH_COMPONENT, ctx.spec.database.placement)
    return {k: placed[k] for k in ("nodeSelector", "tolerations") if k in placed}


def scratch_service(ctx: StackContext) -> JSON:
    service = _in_scratch(ctx, "Service", "v1", SCRATCH_SERVICE, SCRATCH_COMPONENT)
    service["spec"] = {
        "selector": labels.selector_labels(ctx.name, SCRATCH_COMPONENT),
        "ports": [{"name": "postgres", "port": POSTGRES_PORT, "targetPort": "postgres", "protocol": "TCP"}],
    }
    return service


def scratch_objects(ctx: StackContext, run: DrillRun) -> list[JSON]:
    """In creation order: the namespace, its policies before any pod, the Secret the pod reads."""
    return [
        scratch_namespace_object(ctx, run),
        *scratch_policies(ctx),
        scratch_secret(ctx, run),
        scratch_service(ctx),
        scratch_postgres(ctx),
    ]


def drill_job(ctx: StackContext, run: DrillRun) -> JSON:
    """The restore client: the newest dump into the scratch database, then the checks (drill_script.py)."""
    dump = ctx.spec.backup.dump
    assert dump is not None, "a drill needs a dump (the spec's CEL rule)"
    container = {
        "name": "restore",
        "image": postgres_client_image(ctx),
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/sh", "-c", DRILL_SCRIPT],
        "env": [
            *database_env(ctx),
            {"name": "BACKUP_DIR", "value": BACKUP_MOUNT},
            {"name": "SCRATCH_HOST", "value": scratch_host(ctx)},
            {
                "name": "SCRATCH_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": drill_job_name(ctx), "key": "password"}},
            },
            {"name": "SCRATCH_WAIT_SECONDS", "value": str(SCRATCH_WAIT_SECONDS)},
            {"name": "SAMPLE_ROWS", "value": str(SAMPLE_ROWS)},
        ],
        "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": container_security_context(),
        "terminationMessagePolicy": "File",
        "volumeMounts": [
            {"name": BACKUP_VOLUME, "mountPath": BACKUP_MOUNT, "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
        ],
    }
    volume = {
        "name": BACKUP_VOLUME,
        "persistentVolumeClaim": {"claimName": dump.claim_name, "readOnly": True},
    }
    pod_labels = {**labels.selector_labels(ctx.name, COMPONENT), labels.STACK_NAMESPACE: ctx.namespace}
    meta: JSON = {
        "name": drill_job_name(ctx),
        "namespace": ctx.namespace,
        "labels": pod_labels,
        "annotations": {DRILL_ID: run.id, DRILL_STARTED: run.started},
    }
    if ctx.owner is not None:  # not the controller: the operator's watches must not take it for a child
        meta["ownerReferences"] = [{**ctx.owner.manifest(), "controller": False}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta,
        "spec": {
            "backoffLimit": 0,  # a drill that fails is the finding, not something to retry
            "activeDeadlineSeconds": DEADLINE_SECONDS,
            "template": {
                "metadata": {"labels": pod_labels},
                "spec": client_pod_spec(ctx, container, [volume], COMPONENT),
            },
        },
    }

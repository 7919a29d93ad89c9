"""The migration Job: `users-api migrate` in the backend's image, run before that image rolls out.

A Job's pod template is immutable, so the Job is named after a hash of its spec: a new image (or any
other change to what the pod runs with) is a new Job, and the old one is pruned as no longer desired.
Where the pod runs is left out of the hash: a placement edit never re-runs (or, by pruning a running Job,
interrupts) a migration, and a Job already created keeps its placement (the operator never patches a Job:
objects/kinds.py). No
`ttlSecondsAfterFinished`: the completed Job is the record that this template's migrations ran, which is
what lets the operator roll the backend out (`reconcile/migration_gate.py`).

The pod is the backend's (same image, environment, credentials, ServiceAccount and hardening) without
ports or probes. `users-api migrate` itself waits up to DB_STARTUP_TIMEOUT_SECONDS for Postgres, and the
Job retries an unreachable database a few times, so a first install survives Postgres starting later. Exit
codes say which failures a retry cannot fix (users_api/cli.py): those fail the Job at once.
"""

from webstack_operator.builders.backend import users_api_container, users_api_pod_spec
from webstack_operator.builders.checksums import checksum
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.metadata import bounded_name, object_meta
from webstack_operator.builders.placement import scheduling
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

COMPONENT = "migrate"  # app.kubernetes.io/component of the Job and its pods
CONTAINER = "migrate"
COMMAND = ["users-api", "migrate"]
# A pod's labels carry the Job's name (`batch.kubernetes.io/job-name`): a label value, at most 63.
MAX_NAME = 63
# Exit codes of `users-api migrate` that the same image would repeat: a failed migration, bad settings.
PERMANENT_EXIT_CODES = [1, 2]
# Retries for an unreachable database (exit 3), each after up to DB_STARTUP_TIMEOUT_SECONDS of waiting
# and the Job controller's back-off (10 s doubling): about eight minutes for Postgres to come up.
BACKOFF_LIMIT = 4
# However long a migration takes, it ends: a lock that never comes leaves the running version serving.
ACTIVE_DEADLINE_SECONDS = 1800
# Pod spec fields a placement writes (builders/placement.py), none of them in the Job's name.
PLACEMENT_FIELDS = frozenset({"nodeSelector", "tolerations", "topologySpreadConstraints"})


def migration_pod_template(ctx: StackContext) -> JSON:
    """The migration pod: the backend's, running `users-api migrate` once."""
    container = users_api_container(ctx, CONTAINER, command=COMMAND)
    return {
        "metadata": {
            "labels": labels.standard_labels(ctx.name, COMPONENT),
            "annotations": {"kubectl.kubernetes.io/default-container": CONTAINER},
        },
        "spec": users_api_pod_spec(ctx, container, restartPolicy="Never", **_placement(ctx)),
    }


def _placement(ctx: StackContext) -> JSON:
    """The backend's nodeSelector and tolerations: where the backend may run, its migration may too. Not
    its spread: one pod of a Job has nothing to spread from, and `DoNotSchedule` with `minDomains` could
    only hold it Pending."""
    placed = scheduling(ctx, COMPONENT, ctx.spec.backend.placement)
    return {field: placed[field] for field in ("nodeSelector", "tolerations") if field in placed}


def migration_job_name(ctx: StackContext, spec: JSON) -> str:
    """`<stack>-migrate-<hash of the Job's spec without placement>`, bounded for the job-name label."""
    pod = {k: v for k, v in spec["template"]["spec"].items() if k not in PLACEMENT_FIELDS}
    unplaced = {**spec, "template": {**spec["template"], "spec": pod}}
    return bounded_name(f"{ctx.child('migrate')}-{checksum(unplaced)[:10]}", MAX_NAME)


def users_api_job_spec(
    template: JSON, container: str, permanent: list[int], backoff_limit: int, deadline: int
) -> JSON:
    """A Job of the users API's commands (a migration, a rotation's step): an exit code that says retrying
    cannot help fails it at once; a drained node or a preemption is no failure of it, and is not counted."""
    return {
        "backoffLimit": backoff_limit,
        "activeDeadlineSeconds": deadline,
        "podFailurePolicy": {
            "rules": [
                {
                    "action": "FailJob",
                    "onExitCodes": {"containerName": container, "operator": "In", "values": permanent},
                },
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]
        },
        "template": template,
    }


def migration_job(ctx: StackContext) -> JSON:
    """The Job that migrates the schema for the desired backend image."""
    spec = users_api_job_spec(
        migration_pod_template(ctx), CONTAINER, PERMANENT_EXIT_CODES, BACKOFF_LIMIT, ACTIVE_DEADLINE_SECONDS
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(ctx, migration_job_name(ctx, spec), COMPONENT),
        "spec": spec,
    }


def migration_objects(ctx: StackContext) -> list[JSON]:
    """Every stack has one: a Managed database's first schema, or an External one's next."""
    return [migration_job(ctx)]

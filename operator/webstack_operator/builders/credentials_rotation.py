"""The credentials rotation's Jobs: `users-api rotate-credentials prepare|retire` in the backend's image.

A rotation (reconcile/credentials_rotation.py) moves the backend from one login role to the other without
a moment when the password it uses is refused. The database's side runs in these Jobs, logged in with the
credentials the backend uses at that moment (the Secret's `username` and `password`, as any backend pod),
so they need no more than the backend already has and reach Postgres by the same Service and network
policy path. The incoming (prepare) or outgoing (retire) role and its password come from keys of the same
Secret that only these Jobs read: the backend, the migration Job and Postgres's own containers read
`username` and `password` and nothing else.

One Job per step and request (the name carries a hash of the request): a Job is never patched, and a new
request is a new Job. The exit code says what failed (users_api/rotation.py), and a failure a retry cannot
fix fails the Job at once.
"""

from webstack_operator.builders.backend import users_api_container, users_api_pod_spec
from webstack_operator.builders.checksums import checksum
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.metadata import bounded_name, object_meta
from webstack_operator.builders.migrate import users_api_job_spec
from webstack_operator.builders.placement import scheduling
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

COMPONENT = "credentials"  # app.kubernetes.io/component of the Jobs and their pods
CONTAINER = "rotate"
PREPARE = "prepare"
RETIRE = "retire"
# The Secret's keys during a rotation, beside `username`, `password` and `database`.
NEXT_USERNAME = "next-username"  # the incoming role, while it is being prepared
NEXT_PASSWORD = "next-password"
PREVIOUS_USERNAME = "previous-username"  # the outgoing role, until it is retired
PREVIOUS_PASSWORD = "previous-password"
ROTATION_KEYS = (NEXT_USERNAME, NEXT_PASSWORD, PREVIOUS_USERNAME, PREVIOUS_PASSWORD)
# How long `retire` waits for the old role's last connection (the old pods' pools close as they stop).
RETIRE_WAIT_SECONDS = 120
# users_api/rotation.py's exit codes, and what each tells the user.
EXIT_REASONS = {
    1: "a statement failed (the Job's log has the database's error)",
    2: "the Job's settings are wrong (a role that is not the owner's pair, or the one logged in)",
    3: "the database did not answer",
    4: "the new password does not log in, or the role does not act as the owner",
    5: "connections of the old role remained (a client other than the backend uses it)",
    6: "the old password is still accepted",
}
PERMANENT_EXIT_CODES = [1, 2, 4, 5, 6]
BACKOFF_LIMIT = 2  # exit 3 only: the database unreachable for a moment
ACTIVE_DEADLINE_SECONDS = 600
MAX_NAME = 63  # the pods' job-name label


def rotation_job_name(ctx: StackContext, step: str, request: str) -> str:
    """`<stack>-credentials-<step>-<hash of the request>`, bounded for the job-name label."""
    return bounded_name(f"{ctx.child(COMPONENT)}-{step}-{checksum({'request': request})[:8]}", MAX_NAME)


def _secret_env(name: str, secret: str, key: str) -> JSON:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def rotation_job(ctx: StackContext, step: str, request: str) -> JSON:
    """The Job that runs one step of the rotation `request` asked for."""
    username, password = (
        (NEXT_USERNAME, NEXT_PASSWORD) if step == PREPARE else (PREVIOUS_USERNAME, PREVIOUS_PASSWORD)
    )
    container = users_api_container(ctx, CONTAINER, command=["users-api", "rotate-credentials", step])
    secret = ctx.credentials_secret
    container["env"] = [
        *container["env"],
        _secret_env("ROTATION_USERNAME", secret, username),
        _secret_env("ROTATION_PASSWORD", secret, password),
        {"name": "ROTATION_WAIT_SECONDS", "value": str(RETIRE_WAIT_SECONDS)},
    ]
    # The one line that says why is the pod's termination message too.
    container["terminationMessagePolicy"] = "FallbackToLogsOnError"
    placed = scheduling(ctx, COMPONENT, ctx.spec.backend.placement)
    placement = {field: placed[field] for field in ("nodeSelector", "tolerations") if field in placed}
    template = {
        "metadata": {
            "labels": labels.standard_labels(ctx.name, COMPONENT),
            "annotations": {"kubectl.kubernetes.io/default-container": CONTAINER},
        },
        "spec": users_api_pod_spec(ctx, container, restartPolicy="Never", **placement),
    }
    spec = users_api_job_spec(
        template, CONTAINER, PERMANENT_EXIT_CODES, BACKOFF_LIMIT, ACTIVE_DEADLINE_SECONDS
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": object_meta(ctx, rotation_job_name(ctx, step, request), COMPONENT),
        "spec": spec,
    }

"""A stack as the release before the Postgres client Service rendered it (66e0811), from today's builders.

That release had no `<stack>-postgres-rw` and pointed `PGHOST` (backend and migration Job) at the headless
`<stack>-postgres`; nothing else differs. tests/unit/operator/builders/test_previous_release.py checks the
reconstruction against golden digests of 66e0811's own render, so an upgrade test can start from it.
"""

from __future__ import annotations

import copy
from typing import Any

from webstack_operator.builders.context import StackContext
from webstack_operator.builders.migrate import migration_job_name
from webstack_operator.builders.postgres import client_service_name, statefulset_name
from webstack_operator.builders.stack_objects import desired_objects

PREVIOUS_COMMIT = "66e0811"
_USES_PGHOST = ("Deployment", "Rollout", "Job")


def _point_pghost_at(obj: dict[str, Any], host: str) -> None:
    for container in obj["spec"]["template"]["spec"]["containers"]:
        for env in container.get("env") or []:
            if env["name"] == "PGHOST":
                env["value"] = host


def previous_release_objects(ctx: StackContext) -> list[dict[str, Any]]:
    """What 66e0811's `desired_objects(ctx)` returned: no client Service, PGHOST on the headless name, and
    so the migration Job named after that pod template."""
    previous = []
    for obj in desired_objects(ctx):
        if (obj["kind"], obj["metadata"]["name"]) == ("Service", client_service_name(ctx)):
            continue
        obj = copy.deepcopy(obj)
        if obj["kind"] in _USES_PGHOST:
            _point_pghost_at(obj, statefulset_name(ctx))
        if obj["kind"] == "Job":
            obj["metadata"]["name"] = migration_job_name(ctx, obj["spec"])
        previous.append(obj)
    return previous

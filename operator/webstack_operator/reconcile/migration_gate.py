"""The migration gate: a new backend image rolls out only after its migration Job has succeeded.

Pure: given the rendered objects and the stack's children as the cache holds them, it says which objects
the reconcile must hold back (neither write nor prune), what the `Migrated` condition says, and when to
post the one Warning Event of a failed migration. The Job itself is rendered by `builders/migrate.py`.

While a new image's migration runs, or after it failed, the backend keeps running the image it runs: the
schema it sees was made backward compatible by the migration (docs/ops/upgrade.md), and nothing of the new
version has started. A first install waits for its first migration too.
"""

from __future__ import annotations

from dataclasses import dataclass

from webstack_operator.builders.migrate import COMPONENT as MIGRATION_COMPONENT
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels
from webstack_operator.objects.stamps import ObjectKey, key_of
from webstack_operator.reconcile.decisions import Event

CONDITION = "Migrated"
FAILED_REASON = "MigrationFailed"
BACKEND_KINDS = frozenset({"Deployment", "Rollout"})


@dataclass(frozen=True)
class MigrationVerdict:
    """The `Migrated` condition: True (completed), None (running: Unknown) or False (failed)."""

    ok: bool | None
    reason: str
    message: str
    job: str


@dataclass(frozen=True)
class Migration:
    """What the gate decided for one reconcile. `held`: keys the reconcile neither writes nor prunes."""

    held: frozenset[ObjectKey] = frozenset()
    verdict: MigrationVerdict | None = None  # None: the stack renders no migration Job (paused)

    @property
    def failed(self) -> bool:
        return self.verdict is not None and self.verdict.ok is False


def _component(obj: JSON) -> str | None:
    return (obj["metadata"].get("labels") or {}).get(labels.COMPONENT)


def _image(obj: JSON | None) -> str | None:
    containers = (obj or {}).get("spec", {}).get("template", {}).get("spec", {}).get("containers") or []
    return str(containers[0].get("image")) if containers else None


def _true_condition(job: JSON, ctype: str) -> JSON | None:
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == ctype and c.get("status") == "True":
            return dict(c)
    return None


def _verdict(
    name: str, job: JSON | None, image: str | None, running: str | None, holds: bool
) -> MigrationVerdict:
    if job is not None and _true_condition(job, "Complete") is not None:
        return MigrationVerdict(
            True, "Succeeded", f"Job {name} completed: the schema is ready for {image}", name
        )
    failed = _true_condition(job, "Failed") if job is not None else None
    if failed is not None:
        why = ": ".join(str(p) for p in (failed.get("reason"), failed.get("message")) if p)
        kept = f"the backend still runs {running}, untouched" if running else "no backend was started"
        return MigrationVerdict(
            False,
            FAILED_REASON,
            f"Job {name} failed ({why or 'no reason given'}); {kept}. Read its logs "
            f"(kubectl logs job/{name}), then fix the image (a new image runs a new Job) or the database "
            f"and delete Job {name} to run it again (docs/ops/upgrade.md)",
            name,
        )
    started = "is migrating" if job is not None else "is being created to migrate"
    # The backend waits only for a new image; a Job re-run for the same image (deleted by hand) does not.
    after = (
        "the backend rolls out after it"
        if holds
        else f"the backend runs {running} meanwhile"
        if running
        else "no backend is asked for"
    )
    return MigrationVerdict(None, "Running", f"Job {name} {started} the schema for {image}; {after}", name)


def gate(desired: list[JSON], children: list[JSON]) -> Migration:
    """Hold the backend workload while its image differs from the running one (or none runs yet) and the
    desired migration Job has not completed; the running workload is held too, so it is never pruned
    (a switch between Deployment and Rollout waits like an image change)."""
    # The migration's Job, not a credentials rotation's.
    jobs = [o for o in desired if o["kind"] == "Job" and _component(o) == MIGRATION_COMPONENT]
    if not jobs:
        return Migration()
    job = jobs[0]
    live = {key_of(c): c for c in children}
    backend = next(
        (
            o
            for o in desired
            if o["kind"] in BACKEND_KINDS
            and o["metadata"].get("labels", {}).get(labels.COMPONENT) == labels.BACKEND
        ),
        None,
    )
    running: list[JSON] = []
    if backend is not None:
        name, namespace = backend["metadata"]["name"], backend["metadata"].get("namespace", "")
        running = sorted(
            (
                c
                for c in children
                if c["kind"] in BACKEND_KINDS
                and c["metadata"]["name"] == name
                and c["metadata"].get("namespace", "") == namespace
            ),
            key=lambda c: c["kind"] != backend["kind"],  # the desired kind first
        )
    image = _image(backend)
    running_image = _image(running[0]) if running else None
    holds = backend is not None and not (running and running_image == image)
    verdict = _verdict(job["metadata"]["name"], live.get(key_of(job)), image, running_image, holds)
    if backend is None or verdict.ok or not holds:
        return Migration(verdict=verdict)
    held = frozenset({key_of(backend), *(key_of(c) for c in running)})
    return Migration(held=held, verdict=verdict)


def event(previous_status: JSON, verdict: MigrationVerdict | None) -> Event | None:
    """One Warning Event the first time a Job fails (the previous status did not say so yet), not one per
    reconcile."""
    if verdict is None or verdict.ok is not False:
        return None
    prior = next((c for c in previous_status.get("conditions") or [] if c.get("type") == CONDITION), None)
    if prior is not None and prior.get("reason") == FAILED_REASON and verdict.job in prior.get("message", ""):
        return None
    return Event("Warning", FAILED_REASON, verdict.message)

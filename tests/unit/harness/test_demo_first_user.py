"""The demo's account of where the seconds to the first user went (localdemo.first_user), on pods and
events shaped as the API returns them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from localdemo.first_user import job_completions, pod_times, report

APPLIED = datetime(2026, 12, 6, 10, 0, 0, 700_000, tzinfo=UTC)  # the API's stamps have whole seconds


def _stamp(second: int) -> str:
    return f"2026-12-06T10:00:{second:02d}Z"


def _pod(name: str, component: str, created: int, **status: Any) -> dict[str, Any]:
    return {
        "metadata": {
            "name": name,
            "creationTimestamp": _stamp(created),
            "labels": {"app.kubernetes.io/component": component},
        },
        "status": status,
    }


def _true(kind: str, second: int) -> dict[str, str]:
    return {"type": kind, "status": "True", "lastTransitionTime": _stamp(second)}


POSTGRES = _pod(
    "demo-postgres-0",
    "database",
    1,
    phase="Running",
    conditions=[_true("PodScheduled", 1), _true("Ready", 7)],
    containerStatuses=[{"state": {"running": {"startedAt": _stamp(2)}}}],
)
MIGRATE = _pod(
    "demo-migrate-x-abcde",
    "migrate",
    8,
    phase="Succeeded",
    conditions=[_true("PodScheduled", 8), {"type": "Ready", "status": "False"}],
    containerStatuses=[
        {"state": {"terminated": {"startedAt": _stamp(9), "finishedAt": _stamp(11), "exitCode": 0}}}
    ],
)
BACKEND = _pod(
    "demo-backend-7d-q",
    "backend",
    12,
    phase="Running",
    conditions=[_true("PodScheduled", 12), _true("Ready", 15)],
    containerStatuses=[
        {"state": {"running": {"startedAt": _stamp(13)}}},
        {"state": {"running": {"startedAt": _stamp(13)}}},
    ],
)
STARTING = _pod(
    "demo-frontend-9-w",
    "frontend",
    3,
    phase="Pending",
    conditions=[_true("PodScheduled", 3)],
    containerStatuses=[{"state": {"waiting": {"reason": "ContainerCreating"}}}],
)
EVENTS = [
    {
        "involvedObject": {"name": "demo-postgres-0"},
        "reason": "Pulled",
        "message": 'image "p" already present',
    },
    {
        "involvedObject": {"name": "demo-backend-7d-q"},
        "reason": "Pulled",
        "message": 'image "b" already present',
    },
    {
        "involvedObject": {"name": "demo-backend-7d-q"},
        "reason": "Pulled",
        "message": 'Successfully pulled "s"',
    },
]


def test_each_pod_milestone_in_whole_seconds_after_the_apply_in_creation_order() -> None:
    times = pod_times([BACKEND, MIGRATE, POSTGRES, STARTING], EVENTS, APPLIED)
    assert [t.name for t in times] == [
        "demo-postgres-0",
        "demo-frontend-9-w",
        "demo-migrate-x-abcde",
        "demo-backend-7d-q",
    ]
    postgres, frontend, migrate, backend = times
    assert (postgres.created, postgres.scheduled, postgres.started, postgres.ready) == (1, 1, 2, 7)
    assert postgres.image == "on the node" and backend.image == "pulled" and migrate.image == ""
    # A Job's pod is done when its container ended; it never turns Ready.
    assert migrate.ran_to_completion and (migrate.started, migrate.ready) == (9, 11)
    # A pod whose containers have not all started has no start nor Ready yet.
    assert (frontend.started, frontend.ready) == (None, None)
    assert (backend.started, backend.ready) == (13, 15)


def test_the_report_says_the_figure_each_pods_start_and_probes_and_each_component_done() -> None:
    jobs = [
        {"metadata": {"name": "demo-migrate-x"}, "status": {"completionTime": _stamp(12)}},
        {"metadata": {"name": "demo-migrate-running"}, "status": {}},
    ]
    completions = job_completions(jobs, APPLIED)
    assert completions == {"demo-migrate-x": 12}
    lines = report(pod_times([POSTGRES, MIGRATE, BACKEND], EVENTS, APPLIED), 15.4, 16.2, completions)
    assert "  Job demo-migrate-x marked Complete +12 (the backend waits for it)" in lines
    assert lines[0].endswith("16.2 s (the WebStack Ready after 15.4 s)")
    [postgres] = [line for line in lines if line.lstrip().startswith("demo-postgres-0")]
    assert postgres.split()[1:] == [
        "database",
        "+1",
        "+1",
        "+2",
        "+7",
        "1",
        "s",
        "5",
        "s",
        "on",
        "the",
        "node",
    ]
    [migrate] = [line for line in lines if line.lstrip().startswith("demo-migrate")]
    assert "done +11" in migrate and "ran 2 s" in migrate
    assert lines[-1].endswith("database +7, migrate +11, backend +15")

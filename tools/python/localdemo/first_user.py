"""Where the seconds from `kubectl apply` of the WebStack to the first user created through the frontend
went, read from the objects' own timestamps: for each pod, when the operator's workloads created it, when
it was scheduled, when its containers started (sandbox and image: the lab's images are on the node before
any pod asks, so nothing is pulled), when its probes passed (Ready), and the migration Job's run.

The API's timestamps are whole seconds, so every figure here is too; the two the demo measures itself
(Ready seen, the first user) keep their tenths.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JSON = dict[str, Any]
COMPONENT = "app.kubernetes.io/component"


@dataclass(frozen=True)
class PodTimes:
    """One pod's milestones, in whole seconds after the apply; None for one it has not reached."""

    name: str
    component: str
    created: int
    scheduled: int | None
    started: int | None  # its last container's start
    ready: int | None  # Ready; for a Job's pod, its last container's end
    ran_to_completion: bool
    image: str  # "on the node", "pulled", or "" when no event says


def parse_time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(UTC)


def _after(stamp: str | None, origin: datetime) -> int | None:
    return None if not stamp else round((parse_time(stamp) - origin).total_seconds())


def _condition(pod: JSON, kind: str) -> str | None:
    for c in pod.get("status", {}).get("conditions", []):
        if c["type"] == kind and c["status"] == "True":
            return str(c.get("lastTransitionTime") or "") or None
    return None


def _image(pod: str, events: list[JSON]) -> str:
    messages = [
        e.get("message", "")
        for e in events
        if e.get("involvedObject", {}).get("name") == pod and e.get("reason") == "Pulled"
    ]
    if not messages:
        return ""
    return "on the node" if all("already present" in m for m in messages) else "pulled"


def pod_times(pods: list[JSON], events: list[JSON], applied_at: datetime) -> list[PodTimes]:
    """Every pod's milestones after `applied_at` (truncated to its second, as the API's stamps are), in the
    order they were created."""
    origin = applied_at.replace(microsecond=0)
    found: list[PodTimes] = []
    for pod in pods:
        meta, status = pod["metadata"], pod.get("status", {})
        states = [c.get("state", {}) for c in status.get("containerStatuses", [])]
        running = [s.get("running") or s.get("terminated") or {} for s in states]
        starts = [str(s["startedAt"]) for s in running if s.get("startedAt")]
        ends = [
            str(s["terminated"]["finishedAt"]) for s in states if s.get("terminated", {}).get("finishedAt")
        ]
        done = status.get("phase") == "Succeeded"
        ready = max(ends) if done and ends else _condition(pod, "Ready")
        found.append(
            PodTimes(
                name=meta["name"],
                component=meta.get("labels", {}).get(COMPONENT, ""),
                created=_after(meta["creationTimestamp"], origin) or 0,
                scheduled=_after(_condition(pod, "PodScheduled"), origin),
                started=_after(max(starts) if len(starts) == len(states) and starts else None, origin),
                ready=_after(ready, origin),
                ran_to_completion=done,
                image=_image(meta["name"], events),
            )
        )
    return sorted(found, key=lambda t: (t.created, t.name))


def _at(value: int | None) -> str:
    return "-" if value is None else f"+{value}"


def _span(start: int | None, end: int | None) -> str:
    return "-" if start is None or end is None else f"{end - start} s"


def job_completions(jobs: list[JSON], applied_at: datetime) -> dict[str, int]:
    """When the Job controller marked each Job Complete, in whole seconds after the apply: what the
    operator's migration gate waits for, a little after the pod's container ended."""
    origin = applied_at.replace(microsecond=0)
    done = {j["metadata"]["name"]: _after(j.get("status", {}).get("completionTime"), origin) for j in jobs}
    return {name: seconds for name, seconds in done.items() if seconds is not None}


def report(
    times: list[PodTimes], ready_after: float, first_user_after: float, jobs: dict[str, int] | None = None
) -> list[str]:
    """The lines the demo prints: the figure, a row per pod, each Job's completion, and when each
    component was done."""
    width = max([len(t.name) for t in times] + [3])
    lines = [
        f"time from `kubectl apply` of the WebStack to the first user created through the frontend: "
        f"{first_user_after:.1f} s (the WebStack Ready after {ready_after:.1f} s)",
        "  where the seconds went (the pods' own timestamps, whole seconds after the apply):",
        f"  {'pod':<{width}}  {'component':<9}  created  scheduled  started  ready  start  probes  image",
    ]
    for t in times:
        ready = ("done " if t.ran_to_completion else "") + _at(t.ready)
        probes = f"ran {_span(t.started, t.ready)}" if t.ran_to_completion else _span(t.started, t.ready)
        lines.append(
            f"  {t.name:<{width}}  {t.component:<9}  {_at(t.created):>7}  {_at(t.scheduled):>9}  "
            f"{_at(t.started):>7}  {ready:>5}  {_span(t.scheduled, t.started):>5}  {probes:>6}  {t.image}"
        )
    for job, seconds in sorted((jobs or {}).items()):
        lines.append(f"  Job {job} marked Complete +{seconds} (the backend waits for it)")
    done: dict[str, int] = {}
    for t in times:
        if t.ready is not None:
            done[t.component] = max(done.get(t.component, t.ready), t.ready)
    by_component = ", ".join(f"{c} +{s}" for c, s in sorted(done.items(), key=lambda item: item[1]))
    lines.append(f"  each component Ready (its Job done): {by_component}")
    return lines

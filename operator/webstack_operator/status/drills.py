"""Restore drills, judged: when one is due, what a finished one recorded, and what it says of backup health.

Pure (the caller passes the Job, its pod's termination message and the time). A drill's record is
`status.backup.lastDrill`: its result and reason, the dump it restored, RPO (how old that dump's data was
when the restored database answered) and RTO (from the drill's start to a restored database that answered
the checks). `BackupHealthy` reads it: a failed drill, or one older than `backup.drill.period`, is unhealthy.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass

from webstack_operator.api.backup_types import drill_period_seconds
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.kube.jsondata import JSON

SUCCEEDED, FAILED = "Succeeded", "Failed"
_MESSAGE_LENGTH = 1024
_TABLES = 64
_NAME_LENGTH = 253  # the status schema's bound for the id, the dump and the schema version
_REASON = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,63}$")  # the status schema's pattern for a reason


def parse_time(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _seconds(later: str | None, earlier: str | None) -> float | None:
    end, start = parse_time(later), parse_time(earlier)
    return None if end is None or start is None else max(0.0, (end - start).total_seconds())


def drill_due(
    spec: WebStackSpec, last_drill: JSON | None, last_dump_time: str | None, now: dt.datetime
) -> bool:
    """A scheduled drill is due: drills on, a dump to restore, and no drill within the period."""
    drill = spec.backup.drill
    if not (spec.backup.enabled and drill.enabled and spec.backup.dump is not None):
        return False
    if last_drill is None:
        return last_dump_time is not None
    last = parse_time(last_drill.get("time"))
    return last is None or (now - last).total_seconds() >= drill_period_seconds(drill.period)


def seconds_until_due(spec: WebStackSpec, last_drill: JSON | None, now: dt.datetime) -> float | None:
    """When to look again for the next scheduled drill (None: drills off, or waiting for a first dump)."""
    last = parse_time((last_drill or {}).get("time"))
    if not spec.backup.drill.enabled or last is None:
        return None
    period = drill_period_seconds(spec.backup.drill.period)
    return max(1.0, period - (now - last).total_seconds())


def _verdict(message: str | None) -> JSON | None:
    """The restore client's JSON line (builders/drill_script.py), or None when it wrote none."""
    try:
        found = json.loads(message or "")
    except ValueError:
        return None
    return found if isinstance(found, dict) and found.get("result") in (SUCCEEDED, FAILED) else None


def _job_failure(job: JSON) -> tuple[str, str]:
    """Why a Job that left no verdict failed (its deadline, most likely)."""
    for c in (job.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Failed" and c.get("status") == "True":
            reason = str(c.get("reason") or "JobFailed")
            return reason, f"the drill Job failed ({reason}): {c.get('message') or 'no message'}"
    return "NoVerdict", "the drill Job ended without writing its verdict"


def drill_record(job: JSON, message: str | None, run_id: str, started: str, now: str) -> JSON:
    """`status.backup.lastDrill` for a finished drill Job whose restore pod left `message`."""
    verdict = _verdict(message)
    if verdict is None:
        reason, text = _job_failure(job)
        verdict = {"result": FAILED, "reason": reason, "message": text}
    succeeded = verdict["result"] == SUCCEEDED
    checked = verdict.get("checkedAt")
    end = str(checked) if succeeded and parse_time(checked) is not None else now
    reason = str(verdict.get("reason") or "")
    record: JSON = {
        "id": run_id[:_NAME_LENGTH],
        "result": verdict["result"],
        "reason": reason if _REASON.match(reason) else "Unknown",  # what a broken client wrote never
        "message": str(verdict.get("message") or "")[:_MESSAGE_LENGTH],  # makes status unwritable
        "time": end,
        "started": started,
    }
    if verdict.get("dump"):
        record["dump"] = str(verdict["dump"])[:_NAME_LENGTH]
    if parse_time(verdict.get("dumpTime")) is not None:
        record["dumpTime"] = verdict["dumpTime"]
        if succeeded:
            record["rpoSeconds"] = _seconds(end, verdict["dumpTime"])
    if succeeded:
        record["rtoSeconds"] = _seconds(end, started)
        record["schemaVersion"] = str(verdict.get("schemaVersion") or "")[:_NAME_LENGTH]
        record["tables"] = _tables(verdict.get("tables"))
    return {k: v for k, v in record.items() if v is not None}


def _tables(found: object) -> list[JSON]:
    """The verdict's tables, as the status schema bounds them; none when the client wrote nonsense."""
    try:
        return [
            {
                "name": str(t["name"])[:128],
                "rows": max(0, int(t["rows"])),
                "digest": str(t.get("digest", ""))[:64],
            }
            for t in (found if isinstance(found, list) else [])[:_TABLES]
        ]
    except (KeyError, TypeError, ValueError, AttributeError):
        return []


@dataclass(frozen=True)
class DrillHealth:
    """The drill's part of `BackupHealthy`: True, False or None (no drill yet: not judged)."""

    ok: bool | None
    reason: str
    message: str


def drill_health(spec: WebStackSpec, last_drill: JSON | None, now: dt.datetime) -> DrillHealth | None:
    """None when drills are off; else what the last drill says, failed or overdue being unhealthy."""
    drill = spec.backup.drill
    if not (spec.backup.enabled and drill.enabled):
        return None
    if last_drill is None:
        return DrillHealth(None, "AwaitingFirstDrill", "no restore drill has run yet (it waits for a dump)")
    when = last_drill.get("time")
    if last_drill.get("result") != SUCCEEDED:
        reason = last_drill.get("reason", "Unknown")
        message = f"the restore drill at {when} failed: {reason}: {last_drill.get('message', '')}"
        return DrillHealth(False, "DrillFailed", message)
    last = parse_time(when)
    period = drill_period_seconds(drill.period)
    if last is None or (now - last).total_seconds() > period + 3600:  # an hour's grace: the drill's own run
        return DrillHealth(
            False, "DrillOverdue", f"the last restore drill ran at {when}, more than {drill.period} ago"
        )
    rpo, rto = _span(last_drill.get("rpoSeconds")), _span(last_drill.get("rtoSeconds"))
    return DrillHealth(True, "DrillSucceeded", f"the restore drill at {when} passed: RPO {rpo}, RTO {rto}")


def _span(seconds: object) -> str:
    return f"{seconds:g}s" if isinstance(seconds, int | float) else "unknown"

"""Backup health: what Velero's Backups of a stack's Schedule say, judged for the stack's status.

Pure (the caller passes the Backups it saw, the Schedule and the time), so every rule is a unit test away.
The rule is the one the `WebStackBackupMissing`/`WebStackBackupFailing` alerts apply to Velero's metrics:
the newest finished backup failed, or none succeeded within twice the schedule's longest gap. A stack whose
Schedule is younger than that window and has no backup yet is waiting, not failing. The
`BackupConfigured` and `BackupHealthy` conditions are made here too: with restore drills on
(status/drills.py), `BackupHealthy` is also False when the last drill failed or is overdue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from webstack_operator.api.cron import period_seconds
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.kube.jsondata import JSON
from webstack_operator.status.conditions import ConditionMaker
from webstack_operator.status.drills import DrillHealth, drill_health
from webstack_operator.status.observed import Observed

SUCCEEDED = "Completed"
# Velero's terminal phases other than Completed (velero.io/v1 BackupPhase); Deleting is neither.
FAILED = frozenset({"Failed", "PartiallyFailed", "FailedValidation"})
FINISHED = FAILED | {SUCCEEDED}


@dataclass(frozen=True)
class BackupHealth:
    """The `BackupHealthy` condition and the `status.backup` fields."""

    ok: bool | None
    reason: str
    message: str
    last_backup: str | None = None  # the newest Backup's name
    last_phase: str | None = None  # its phase ("New" until Velero picks it up)
    last_backup_time: str | None = None  # when it started (or was created, before it started)
    last_successful_time: str | None = None  # completion of the newest Completed one

    def status(self) -> JSON:
        fields = {
            "lastBackup": self.last_backup,
            "lastBackupPhase": self.last_phase,
            "lastBackupTime": self.last_backup_time,
            "lastSuccessfulTime": self.last_successful_time,
        }
        return {k: v for k, v in fields.items() if v is not None}


def _time(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def _started(backup: JSON) -> str:
    return str(
        (backup.get("status") or {}).get("startTimestamp")
        or backup["metadata"].get("creationTimestamp")
        or ""
    )


def _phase(backup: JSON) -> str:
    return str((backup.get("status") or {}).get("phase") or "New")


def _span(seconds: float) -> str:
    """`26h`, `90m`: how long, for a person."""
    return f"{seconds / 3600:g}h" if seconds >= 3 * 3600 else f"{seconds / 60:g}m"


def backup_health(
    backups: list[JSON], *, schedule: str, schedule_created: str | None, now: dt.datetime
) -> BackupHealth:
    """Judges the Backups made from one Schedule (`schedule` is its cron, `schedule_created` its creation)."""
    window = 2 * period_seconds(schedule)
    ordered = sorted(backups, key=_started)
    newest = ordered[-1] if ordered else None
    finished = [b for b in ordered if _phase(b) in FINISHED]
    succeeded = [
        t
        for b in finished
        if _phase(b) == SUCCEEDED and (t := (b.get("status") or {}).get("completionTimestamp"))
    ]
    last_success = max(succeeded, key=lambda t: _time(t) or now) if succeeded else None
    known = {
        "last_backup": newest["metadata"]["name"] if newest else None,
        "last_phase": _phase(newest) if newest else None,
        "last_backup_time": _started(newest) or None if newest else None,
        "last_successful_time": last_success,
    }
    since_success = f"; the last successful one completed at {last_success}" if last_success else ""

    if finished and _phase(finished[-1]) in FAILED:
        failed = finished[-1]
        name, phase = failed["metadata"]["name"], _phase(failed)
        message = (
            f"backup {name} ended {phase}{since_success} "
            f"(velero backup describe {name} --details; velero backup logs {name})"
        )
        return BackupHealth(False, f"Backup{phase}", message, **known)
    success_time = _time(last_success)
    if success_time is not None and (now - success_time).total_seconds() <= window:
        return BackupHealth(
            True, "BackupSucceeded", f"last successful backup completed at {last_success}", **known
        )
    if success_time is not None:
        message = (
            f"no successful backup within {_span(window)} (twice the schedule's longest gap){since_success}"
        )
        return BackupHealth(False, "NoRecentBackup", message, **known)
    created = _time(schedule_created)
    if created is not None and (now - created).total_seconds() > window:
        message = (
            f"no successful backup since the Schedule was created at {schedule_created}, "
            f"more than {_span(window)} (twice the schedule's longest gap) ago"
        )
        return BackupHealth(False, "NoSuccessfulBackup", message, **known)
    return BackupHealth(
        None, "AwaitingFirstBackup", f"no backup has completed yet; the schedule is '{schedule}'", **known
    )


def stack_backup_health(spec: WebStackSpec, observed: Observed, now: str) -> BackupHealth | None:
    """The health of a stack's backups; None when it has no Schedule to judge (backup off, or no Velero)."""
    if not spec.backup.enabled or not observed.velero_available:
        return None
    return backup_health(
        list(observed.backups),
        schedule=spec.backup.schedule,
        schedule_created=(observed.schedule or {}).get("metadata", {}).get("creationTimestamp"),
        now=dt.datetime.fromisoformat(now.replace("Z", "+00:00")),
    )


def backup_status(health: BackupHealth | None, observed: Observed) -> JSON:
    """`status.backup`: Velero's backups, the operator's last dump, the last restore drill."""
    found = health.status() if health is not None else {}
    dumped = ((observed.dump or {}).get("status") or {}).get("lastSuccessfulTime")
    if dumped:
        found["lastDumpTime"] = dumped
    if observed.last_drill:
        found["lastDrill"] = observed.last_drill
    return found


def _configured(spec: WebStackSpec, velero: bool) -> str:
    parts = [f"Velero Schedule '{spec.backup.schedule}'"] if velero else []
    if spec.backup.dump is not None:
        parts.append(f"pg_dump to claim {spec.backup.dump.claim_name} on '{spec.backup.schedule}'")
    if spec.backup.drill.enabled:
        parts.append(f"a restore drill every {spec.backup.drill.period}")
    return "; ".join(parts)


def _healthy(health: BackupHealth | None, drill: DrillHealth | None) -> tuple[bool | None, str, str]:
    """The worst of Velero's backups and the last drill: False before Unknown before True."""
    verdicts = [v for v in (health, drill) if v is not None]
    for wanted in (False, None):
        for v in verdicts:
            if v.ok is wanted:
                return v.ok, v.reason, v.message
    return True, verdicts[0].reason, "; ".join(v.message for v in verdicts)


def backup_conditions(
    spec: WebStackSpec, observed: Observed, health: BackupHealth | None, cond: ConditionMaker
) -> list[JSON]:
    """`BackupConfigured`, and `BackupHealthy` once there is a Schedule or a drill to judge."""
    if not spec.backup.enabled:
        return [cond("BackupConfigured", False, "Disabled", "backup is disabled in the spec")]
    velero = observed.velero_available and health is not None
    if not velero and spec.backup.dump is None:
        message = "the Velero CRDs are not installed: no backup Schedule is created"
        return [cond("BackupConfigured", False, "VeleroNotInstalled", message)]
    drill = drill_health(
        spec, observed.last_drill, dt.datetime.fromisoformat(cond.now.replace("Z", "+00:00"))
    )
    configured = cond("BackupConfigured", True, "Scheduled", _configured(spec, velero))
    if health is None and drill is None:
        return [configured]
    return [configured, cond("BackupHealthy", *_healthy(health, drill))]

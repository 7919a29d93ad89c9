"""Backups: `BackupSpec`, a Velero Schedule with a `pg_dump` before each backup, the operator's own dumps
(`DumpSpec`) and the restore drill that proves them (`DrillSpec`)."""

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.cron import CronError, period_seconds
from webstack_operator.api.model_base import ApiModel, optional_section
from webstack_operator.api.patterns import (
    CRON_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    DRILL_PERIOD_PATTERN,
    GO_DURATION_PATTERN,
)

DRILL_NEEDS_DUMP = (
    "drill.enabled needs dump: a drill restores the operator's own dump (set dump.claimName to a "
    "PersistentVolumeClaim in the stack's namespace)"
)
DUMP_NEEDS_BACKUP = "dump and drill apply only when enabled is true (the dump runs on the backup schedule)"
_PERIOD_UNITS = {"m": 60, "h": 3600}


def drill_period_seconds(period: str) -> int:
    """`168h` -> 604800: the pattern admits minutes and hours only."""
    return int(period[:-1]) * _PERIOD_UNITS[period[-1]]


class DumpSpec(ApiModel):
    """The operator's own logical backup: `pg_dump -Fc` on the backup schedule into a volume the user names,
    restorable with nothing but `pg_restore` (no Velero server)."""

    claim_name: str = Field(
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="A PersistentVolumeClaim in the stack's namespace that holds the dumps and their "
        "manifest (`dumps.manifest`); the user makes it (ReadWriteOnce is enough on one node; on EKS, an "
        "S3-backed volume such as the Mountpoint for S3 CSI driver's, docs/ops/backup-dr.md).",
    )
    keep: int = Field(default=7, ge=1, le=100, description="How many dumps are kept, newest first.")


class DrillSpec(ApiModel):
    """A restore drill: the newest dump restored into a scratch Postgres in a scratch namespace, checked, its
    RPO and RTO recorded in `status.backup.lastDrill`, the scratch namespace deleted."""

    enabled: bool = Field(default=False, description="Run a drill every `period`.")
    period: str = Field(
        default="168h",
        pattern=DRILL_PERIOD_PATTERN,
        max_length=8,
        description="Time between drills (minutes or hours: `30m`, `168h`); `BackupHealthy` turns False "
        "when the last drill is older than this.",
    )


class BackupSpec(ApiModel):
    """A Velero Schedule for the stack's objects and volumes, with a `pg_dump` taken before each backup."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel("!self.drill.enabled || has(self.dump)", DRILL_NEEDS_DUMP, field_path=".drill.enabled"),
            cel("self.enabled || (!has(self.dump) && !self.drill.enabled)", DUMP_NEEDS_BACKUP),
        )
    )

    enabled: bool = Field(default=False, description="Render the Velero Schedule.")
    schedule: str = Field(
        default="0 3 * * *", pattern=CRON_PATTERN, max_length=128, description="Cron schedule (UTC)."
    )
    ttl: str = Field(
        default="720h0m0s",
        pattern=GO_DURATION_PATTERN,
        min_length=2,
        max_length=32,
        description="How long backups are kept (a Go duration).",
    )
    storage_location: str = Field(
        default="default",
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="Velero BackupStorageLocation.",
    )
    volume_backup_method: Literal["Snapshot", "FileSystem"] = Field(
        default="Snapshot",
        description="`Snapshot`: volume snapshots (cloud provider or CSI). `FileSystem`: Velero's node "
        "agent.",
    )

    dump: DumpSpec | None = Field(
        default=None, description="The operator's own `pg_dump` on the schedule, kept in a volume you name."
    )
    drill: DrillSpec = optional_section(DrillSpec, "Restore drills of the newest dump.")

    @model_validator(mode="after")
    def _drill_and_dump(self) -> "BackupSpec":
        if self.drill.enabled and self.dump is None:
            raise ValueError(DRILL_NEEDS_DUMP)
        if not self.enabled and (self.dump is not None or self.drill.enabled):
            raise ValueError(DUMP_NEEDS_BACKUP)
        return self

    @model_validator(mode="after")
    def _schedule_runs(self) -> "BackupSpec":
        # The pattern admits `0 0 31 2 *`; the backup alerts need a schedule that runs.
        try:
            period_seconds(self.schedule)
        except CronError as e:
            raise ValueError(f"schedule: {e}") from None
        return self

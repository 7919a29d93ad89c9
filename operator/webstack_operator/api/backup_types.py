"""Backups: `BackupSpec`, a Velero Schedule with a `pg_dump` before each backup."""

from typing import Literal

from pydantic import Field, model_validator

from webstack_operator.api.cron import CronError, period_seconds
from webstack_operator.api.model_base import ApiModel
from webstack_operator.api.patterns import CRON_PATTERN, DNS_SUBDOMAIN_PATTERN, GO_DURATION_PATTERN


class BackupSpec(ApiModel):
    """A Velero Schedule for the stack's objects and volumes, with a `pg_dump` taken before each backup."""

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

    @model_validator(mode="after")
    def _schedule_runs(self) -> "BackupSpec":
        # The pattern admits `0 0 31 2 *`; the backup alerts need a schedule that runs.
        try:
            period_seconds(self.schedule)
        except CronError as e:
            raise ValueError(f"schedule: {e}") from None
        return self

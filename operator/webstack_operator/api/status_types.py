"""The WebStack's `status`: `WebStackStatus`, its phase, components, backups, credentials and conditions."""

from datetime import datetime
from typing import Literal

from pydantic import Field

from webstack_operator.api.model_base import ApiModel

Phase = Literal["Pending", "Progressing", "Ready", "Degraded", "Failed", "Paused"]


class ComponentStatus(ApiModel):
    """Readiness of one component."""

    ready: int = Field(default=0, ge=0, description="Ready pods.")
    desired: int = Field(default=0, ge=0, description="Desired pods.")
    image: str | None = Field(default=None, max_length=512, description="Image the component runs.")


class ComponentsStatus(ApiModel):
    """Readiness per component; a component that is not run by the operator (External, Disabled) is absent."""

    backend: ComponentStatus | None = Field(default=None, description="The users API.")
    frontend: ComponentStatus | None = Field(default=None, description="nginx.")
    database: ComponentStatus | None = Field(default=None, description="Postgres (Managed).")
    cache: ComponentStatus | None = Field(default=None, description="Redis (Managed).")


class DrillTable(ApiModel):
    """One table of the restored database, as the drill read it back."""

    name: str = Field(max_length=128, description="The table (schema `public`).")
    rows: int = Field(ge=0, description="Rows restored (equal to the dump's, or the drill failed).")
    digest: str | None = Field(
        default=None,
        max_length=64,
        description="md5 of the table's rows as `COPY ... TO STDOUT` text, sorted: equal digests, equal "
        "data.",
    )


class LastDrill(ApiModel):
    """The last restore drill: what it restored, what it found, how old the data was and how long it took."""

    id: str = Field(
        max_length=253,
        description="Which run: `scheduled-<time>`, or the value of the `webstack.dev/drill` request.",
    )
    result: Literal["Succeeded", "Failed"] = Field(description="Whether the restored database passed.")
    reason: str = Field(
        pattern=r"^[A-Za-z][A-Za-z0-9]*$",
        max_length=64,
        description="`Restored`, or why it failed: `NoDump`, `EmptyDump`, `CorruptDump`, `RestoreFailed`, "
        "`SchemaMismatch`, `RowCountMismatch`, `SampleMismatch`, `ScratchNotReady`, `DeadlineExceeded`...",
    )
    message: str = Field(default="", max_length=1024, description="What happened, for a person.")
    time: datetime = Field(description="When the drill ended.")
    started: datetime | None = Field(default=None, description="When the drill started.")
    dump: str | None = Field(default=None, max_length=253, description="The dump file restored.")
    dump_time: datetime | None = Field(default=None, description="When that dump was taken.")
    rpo_seconds: float | None = Field(
        default=None, ge=0, description="RPO: the age of the restored data (drill end minus dump time)."
    )
    rto_seconds: float | None = Field(
        default=None,
        ge=0,
        description="RTO: from the drill's start to a restored database that answered the checks.",
    )
    schema_version: str | None = Field(
        default=None, max_length=253, description="The restored `schema_migrations` version."
    )
    tables: list[DrillTable] | None = Field(
        default=None, max_length=64, description="The restored tables, their rows and digests."
    )


class BackupStatus(ApiModel):
    """What Velero's Backups of the stack's Schedule say (the `BackupHealthy` condition judges them)."""

    last_backup: str | None = Field(default=None, max_length=253, description="The newest Backup's name.")
    last_backup_phase: str | None = Field(
        default=None,
        max_length=64,
        description="Its phase (`New`, `InProgress`, `Completed`, `Failed`, ...).",
    )
    last_backup_time: datetime | None = Field(default=None, description="When the newest Backup started.")
    last_successful_time: datetime | None = Field(
        default=None, description="When the newest successful (`Completed`) Backup completed."
    )
    last_dump_time: datetime | None = Field(
        default=None, description="When the newest successful operator dump (`backup.dump`) finished."
    )
    last_drill: LastDrill | None = Field(default=None, description="The last restore drill (`backup.drill`).")


class Condition(ApiModel):
    """A Kubernetes-style condition (`Ready`, `Progressing`, `Degraded`, ...)."""

    type: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9]*$", max_length=64, description="Condition type.")
    status: Literal["True", "False", "Unknown"] = Field(description="Condition status.")
    reason: str = Field(
        default="",
        pattern=r"^([A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?)?$",
        max_length=1024,
        description="CamelCase reason.",
    )
    message: str = Field(default="", max_length=32768, description="Human-readable detail.")
    last_transition_time: datetime | None = Field(default=None, description="When the status last changed.")
    observed_generation: int | None = Field(
        default=None, ge=0, description="Generation the condition is for."
    )


class CredentialsRotationStatus(ApiModel):
    """A credentials rotation under way (the `CredentialsRotated` condition says what it waits for)."""

    phase: Literal["Preparing", "Rolling", "Retiring"] = Field(
        description="`Preparing` (the standby role gets the new password), `Rolling` (the backend moves to "
        "it), `Retiring` (the old role's password is removed once nothing uses it)."
    )
    request: str = Field(
        default="",
        max_length=253,
        description="What asked for it: the annotation's value, or `scheduled-<time>`.",
    )
    started_time: datetime | None = Field(default=None, description="When it started.")


class CredentialsStatus(ApiModel):
    """The generated database credentials' rotations."""

    last_rotation_time: datetime | None = Field(default=None, description="When the last rotation finished.")
    rotation: CredentialsRotationStatus | None = Field(default=None, description="The rotation under way.")


class WebStackStatus(ApiModel):
    """What the operator observed at its last reconcile."""

    phase: Phase | None = Field(default=None, description="Summary of the stack's state.")
    observed_generation: int | None = Field(default=None, ge=0, description="Generation last reconciled.")
    url: str | None = Field(default=None, max_length=512, description="Where the stack is served.")
    ready_components: str | None = Field(
        default=None,
        pattern=r"^[0-9]+/[0-9]+$",
        max_length=16,
        description="Ready/total components, e.g. `4/4`.",
    )
    components: ComponentsStatus | None = Field(default=None, description="Readiness per component.")
    backup: BackupStatus | None = Field(
        default=None, description="The last backups, dumps and drills, when `backup.enabled`."
    )
    reason: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z][A-Za-z0-9]*$",
        max_length=64,
        description="The Ready condition's reason: `AllComponentsReady`, or what keeps the stack from Ready "
        "(`FailedCreate`, `ImagePullBackOff`, `PriorityClassNotFound`...).",
    )
    blocker: str | None = Field(
        default=None,
        max_length=512,
        description="When not Ready: the one thing that keeps it, in one line naming the child, e.g. "
        '`backend: Deployment shop-backend: pods "shop-backend-7d9c" is forbidden: no PriorityClass '
        "with name webstack-high was found`.",
    )
    credentials: CredentialsStatus | None = Field(
        default=None, description="Rotations of the generated database credentials, once one was asked for."
    )
    conditions: list[Condition] | None = Field(
        default=None,
        max_length=24,  # 13 today (Ready, one per component, Migrated, canary, monitoring, backups, ...)
        description="Current conditions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )

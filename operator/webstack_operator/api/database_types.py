"""The database: `DatabaseSpec`, a Managed Postgres StatefulSet or an External server, and its volume."""

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.compute_resources import Resources
from webstack_operator.api.credentials_types import (
    EXTERNAL_CREDENTIAL_KEY,
    MANAGED_CREDENTIAL_KEYS,
    Credentials,
)
from webstack_operator.api.defaults import DEFAULT_POSTGRES_PORT, DEFAULT_POSTGRES_RESOURCES
from webstack_operator.api.field_types import Cidr, Image, Quantity
from webstack_operator.api.model_base import ApiModel, optional_section
from webstack_operator.api.patterns import DNS_SUBDOMAIN_PATTERN
from webstack_operator.api.placement_types import Placement

STORAGE_CLASS_IMMUTABLE = "storageClassName is immutable: a volume cannot move to another storage class"
STORAGE_SIZE_IMMUTABLE = (
    "size is immutable: StatefulSet volume claim templates cannot change; expand the PVC directly"
)


class Storage(ApiModel):
    """The database volume (a PersistentVolumeClaim per Postgres pod)."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "has(self.storageClassName) == has(oldSelf.storageClassName) && "
                "(!has(self.storageClassName) || self.storageClassName == oldSelf.storageClassName)",
                STORAGE_CLASS_IMMUTABLE,
                field_path=".storageClassName",
            ),
            cel("string(self.size) == string(oldSelf.size)", STORAGE_SIZE_IMMUTABLE, field_path=".size"),
        )
    )

    size: Quantity = Field(default="10Gi", description="Volume size (immutable).")
    storage_class_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="StorageClass of the volume; the cluster default when omitted (immutable).",
    )


EXTERNAL_DATABASE_NEEDS_CREDENTIALS = (
    "mode External needs credentials.secretRef (a Secret with key uri), sealedSecret or externalSecret"
)
SEALED_KEYS_MANAGED = "credentials.sealedSecret.encryptedData needs keys username, password and database"
SEALED_KEYS_EXTERNAL = "credentials.sealedSecret.encryptedData needs key uri for mode External"
DATABASE_ADDRESS_ONLY_EXTERNAL = "port and cidrs apply only to mode External"
DATABASE_PLACEMENT_ONLY_MANAGED = (
    "placement applies only to mode Managed: an External database runs no pod here"
)
# A transition rule (CEL only, it needs the old object): the edit that stops the Managed database would
# otherwise be the one that deletes its volume. Under Retain the operator keeps the StatefulSet, its claim and
# the credentials as orphans (docs/architecture.md, Transitions).
MANAGED_TO_EXTERNAL_UNDER_DELETE = (
    "mode cannot change from Managed to External while deletionPolicy is Delete: deletionPolicy Delete "
    "would make this edit delete the database volume and its credentials. Set deletionPolicy: Retain "
    "(in this edit or before it); the operator then keeps the StatefulSet, its PVC and the credentials "
    "Secret as orphans, for you to migrate the data and delete them by hand"
)


class DatabaseSpec(ApiModel):
    """PostgreSQL: a StatefulSet the operator runs (Managed), or a server elsewhere such as RDS (External)."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "self.mode != 'External' || (has(self.credentials) && (has(self.credentials.secretRef) || "
                "has(self.credentials.sealedSecret) || has(self.credentials.externalSecret)))",
                EXTERNAL_DATABASE_NEEDS_CREDENTIALS,
                field_path=".credentials",
            ),
            cel(
                "self.mode != 'Managed' || !has(self.credentials) || !has(self.credentials.sealedSecret) "
                "|| ['username', 'password', 'database'].all(k, "
                "k in self.credentials.sealedSecret.encryptedData)",
                SEALED_KEYS_MANAGED,
                field_path=".credentials.sealedSecret.encryptedData",
            ),
            cel(
                "self.mode != 'External' || !has(self.credentials) || !has(self.credentials.sealedSecret) || "
                "'uri' in self.credentials.sealedSecret.encryptedData",
                SEALED_KEYS_EXTERNAL,
                field_path=".credentials.sealedSecret.encryptedData",
            ),
            cel(
                "self.mode == 'External' || (!has(self.port) && !has(self.cidrs))",
                DATABASE_ADDRESS_ONLY_EXTERNAL,
            ),
            cel(
                "self.mode == 'Managed' || !has(self.placement)",
                DATABASE_PLACEMENT_ONLY_MANAGED,
                field_path=".placement",
            ),
            cel(
                "oldSelf.mode != 'Managed' || self.mode != 'External' || self.deletionPolicy != 'Delete'",
                MANAGED_TO_EXTERNAL_UNDER_DELETE,
                field_path=".mode",
            ),
        )
    )

    mode: Literal["Managed", "External"] = Field(
        default="Managed",
        description="`Managed`: a Postgres StatefulSet in the namespace. `External`: connect to the `uri` in "
        "the credentials Secret.",
    )
    version: Literal["15", "16", "17"] = Field(
        default="16", description="PostgreSQL major version (Managed)."
    )
    image: Image | None = Field(
        default=None,
        description="Postgres image override (e.g. a mirror); must be the official image's alpine layout "
        "(uid 70). Defaults to the operator's postgres image for `version`.",
    )
    storage: Storage = optional_section(Storage, "The data volume (Managed).")
    credentials: Credentials = optional_section(Credentials, "Where the database credentials come from.")
    deletion_policy: Literal["Retain", "Delete"] = Field(
        default="Retain",
        description="`Retain` keeps the data volume and generated credentials when the WebStack is deleted; "
        "`Delete` removes them with it.",
    )
    resources: Resources = Field(
        default=DEFAULT_POSTGRES_RESOURCES,
        description="Compute resources of Postgres (Managed).",
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port of the External server, the only port the backend and the migration Job may "
        f"open to it (NetworkPolicy egress). Default: {DEFAULT_POSTGRES_PORT}. Keep it equal to the `uri`'s "
        "port (the operator cannot read the Secret to check).",
    )
    cidrs: list[Cidr] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Networks the External server lives in (e.g. the RDS subnets' CIDRs); egress to it is "
        "allowed only there. Default: any address, on `port` only.",
    )
    placement: Placement | None = Field(
        default=None,
        description="Where the Postgres pod runs (Managed); each field set here replaces that field of "
        "`spec.placement`. Its volume binds it to a zone once created (EBS), so change zones with care.",
    )

    @model_validator(mode="after")
    def _credentials_fit_mode(self) -> "DatabaseSpec":
        creds = self.credentials
        if self.mode == "External" and creds.generated:
            raise ValueError(EXTERNAL_DATABASE_NEEDS_CREDENTIALS)
        if creds.sealed_secret is not None:
            keys = creds.sealed_secret.encrypted_data.keys()
            if self.mode == "Managed" and not set(MANAGED_CREDENTIAL_KEYS) <= keys:
                raise ValueError(SEALED_KEYS_MANAGED)
            if self.mode == "External" and EXTERNAL_CREDENTIAL_KEY not in keys:
                raise ValueError(SEALED_KEYS_EXTERNAL)
        if self.mode != "External" and (self.port is not None or self.cidrs is not None):
            raise ValueError(DATABASE_ADDRESS_ONLY_EXTERNAL)
        if self.mode != "Managed" and self.placement is not None:
            raise ValueError(DATABASE_PLACEMENT_ONLY_MANAGED)
        return self

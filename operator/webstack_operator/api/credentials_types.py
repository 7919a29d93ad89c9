"""The database credentials: generated, an existing Secret, a SealedSecret or an ExternalSecret."""

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.field_types import DnsSubdomain
from webstack_operator.api.model_base import ApiModel, optional_section
from webstack_operator.api.object_references import LocalObjectReference
from webstack_operator.api.patterns import SHORT_DURATION_PATTERN

# Keys of the credentials Secret, whichever way it is provided.
MANAGED_CREDENTIAL_KEYS = ("username", "password", "database")
EXTERNAL_CREDENTIAL_KEY = "uri"


class SealedCredentials(ApiModel):
    """A Bitnami SealedSecret, rendered as-is, whose controller decrypts it into the credentials Secret.

    Seal it for the Secret `<webstack-name>-postgres` in the WebStack's namespace (strict scope).
    """

    encrypted_data: dict[str, Annotated[str, Field(min_length=1, max_length=16384)]] = Field(
        min_length=1,
        max_length=16,
        description="`kubeseal` output: Secret key to encrypted value (keys `username`, `password`, "
        "`database` for a Managed database, `uri` for an External one).",
    )


class ExternalSecretStoreRef(ApiModel):
    """The External Secrets Operator store that holds the credentials."""

    name: DnsSubdomain = Field(description="Name of the SecretStore or ClusterSecretStore.")
    kind: Literal["SecretStore", "ClusterSecretStore"] = Field(
        default="SecretStore", description="Kind of store."
    )


class ExternalSecretProperties(ApiModel):
    """Which property of the remote secret becomes which key of the credentials Secret."""

    username: str = Field(
        default="username", min_length=1, max_length=253, description="Property for `username`."
    )
    password: str = Field(
        default="password", min_length=1, max_length=253, description="Property for `password`."
    )
    database: str = Field(
        default="database", min_length=1, max_length=253, description="Property for `database`."
    )
    uri: str = Field(
        default="uri", min_length=1, max_length=253, description="Property for `uri` (External mode)."
    )


class ExternalCredentials(ApiModel):
    """An External Secrets Operator ExternalSecret that syncs the credentials Secret from a secret manager."""

    store_ref: ExternalSecretStoreRef = Field(description="The store to read from.")
    remote_key: str = Field(
        min_length=1,
        max_length=1024,
        description="Key of the secret in the store (e.g. `prod/shop/postgres`).",
    )
    properties: ExternalSecretProperties = optional_section(
        ExternalSecretProperties,
        "Mapping of the remote secret's properties to the credentials Secret's keys.",
    )
    refresh_interval: str = Field(
        default="1h", pattern=SHORT_DURATION_PATTERN, max_length=16, description="How often to re-sync."
    )


CREDENTIALS_ONE_SOURCE = "set at most one of secretRef, sealedSecret or externalSecret"
ROTATION_NEEDS_GENERATED = (
    "rotationPeriod rotates generated credentials only: rotate a secretRef, sealedSecret or externalSecret "
    "at its source"
)
ROTATION_PERIOD_PATTERN = r"^[1-9][0-9]{0,4}(h|d)$"


class Credentials(ApiModel):
    """Database credentials. With no source set, the operator generates them, and rotates them on request
    or every `rotationPeriod` (two login roles in turn: the backend moves over with no failed request)."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "(has(self.secretRef) ? 1 : 0) + (has(self.sealedSecret) ? 1 : 0) + "
                "(has(self.externalSecret) ? 1 : 0) <= 1",
                CREDENTIALS_ONE_SOURCE,
            ),
            cel(
                "!has(self.rotationPeriod) || "
                "(!has(self.secretRef) && !has(self.sealedSecret) && !has(self.externalSecret))",
                ROTATION_NEEDS_GENERATED,
            ),
        )
    )

    secret_ref: LocalObjectReference | None = Field(
        default=None,
        description="An existing Secret: keys `username`, `password`, `database` (Managed) or `uri` "
        "(External).",
    )
    sealed_secret: SealedCredentials | None = Field(default=None, description="A SealedSecret to render.")
    external_secret: ExternalCredentials | None = Field(
        default=None, description="An ExternalSecret to render."
    )

    rotation_period: str | None = Field(
        default=None,
        pattern=ROTATION_PERIOD_PATTERN,
        max_length=8,
        description="Rotate the generated credentials this long after the last rotation (`720h`, `30d`; "
        "hours or days), with no failed request: docs/ops/backup-dr.md. Unset: only on request "
        "(`webstack.dev/regenerate-credentials`).",
    )

    @model_validator(mode="after")
    def _one_source(self) -> "Credentials":
        if sum(x is not None for x in (self.secret_ref, self.sealed_secret, self.external_secret)) > 1:
            raise ValueError(CREDENTIALS_ONE_SOURCE)
        if self.rotation_period is not None and not self.generated:
            raise ValueError(ROTATION_NEEDS_GENERATED)
        return self

    @property
    def generated(self) -> bool:
        """True when the operator generates the credentials itself."""
        return self.secret_ref is None and self.sealed_secret is None and self.external_secret is None

"""The cache: `CacheSpec`, a Managed Redis Deployment, an External Redis, or none."""

from typing import Literal
from urllib.parse import urlsplit

from pydantic import ConfigDict, Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.compute_resources import Resources
from webstack_operator.api.defaults import DEFAULT_REDIS_PORT
from webstack_operator.api.field_types import Cidr, Image
from webstack_operator.api.model_base import ApiModel
from webstack_operator.api.object_references import LocalObjectReference, SecretKeySelector
from webstack_operator.api.patterns import REDIS_MEMORY_PATTERN, REDIS_URL_PATTERN
from webstack_operator.api.placement_types import Placement

EXTERNAL_CACHE_ONE_SOURCE = "mode External needs exactly one of url or secretRef"
CACHE_SOURCE_ONLY_EXTERNAL = "url, secretRef and passwordSecretRef apply only to mode External"
CACHE_ADDRESS_ONLY_EXTERNAL = "port and cidrs apply only to mode External"
CACHE_PORT_FROM_URL = "with url the port is the url's (default 6379); set port only with secretRef"
CACHE_PLACEMENT_ONLY_MANAGED = (
    "placement applies only to mode Managed: an External or Disabled cache runs no pod here"
)


class CacheSpec(ApiModel):
    """Redis as a cache-aside layer: a Deployment without persistence (Managed), elsewhere, or none."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "self.mode != 'External' || has(self.url) != has(self.secretRef)",
                EXTERNAL_CACHE_ONE_SOURCE,
            ),
            cel(
                "self.mode == 'External' || (!has(self.url) && !has(self.secretRef) "
                "&& !has(self.passwordSecretRef))",
                CACHE_SOURCE_ONLY_EXTERNAL,
            ),
            cel(
                "self.mode == 'External' || (!has(self.port) && !has(self.cidrs))",
                CACHE_ADDRESS_ONLY_EXTERNAL,
            ),
            cel("!has(self.url) || !has(self.port)", CACHE_PORT_FROM_URL, field_path=".port"),
            cel(
                "self.mode == 'Managed' || !has(self.placement)",
                CACHE_PLACEMENT_ONLY_MANAGED,
                field_path=".placement",
            ),
        )
    )

    mode: Literal["Managed", "External", "Disabled"] = Field(
        default="Managed", description="`Managed`: Redis in the namespace. `External`: `url` or `secretRef`."
    )
    max_memory: str = Field(
        default="256mb",
        pattern=REDIS_MEMORY_PATTERN,
        max_length=8,
        description="Redis `maxmemory` (e.g. `256mb`, `1gb`); keys are evicted LRU beyond it (Managed).",
    )
    ttl_seconds: int = Field(default=30, ge=1, le=86400, description="Lifetime of a cached entry.")
    image: Image | None = Field(
        default=None, description="Redis image override; the official alpine layout (uid 999). (Managed)"
    )
    resources: Resources | None = Field(
        default=None,
        description="Compute resources of Redis (Managed). Default: memory request and limit of 1.25 x "
        "maxMemory + 32Mi, so eviction happens before the OOM killer.",
    )
    url: str | None = Field(
        default=None,
        pattern=REDIS_URL_PATTERN,
        max_length=1024,
        description="`redis://` or `rediss://` URL (External). Prefer secretRef when it holds a password.",
    )
    secret_ref: LocalObjectReference | None = Field(
        default=None, description="A Secret whose key `uri` holds the Redis URL (External)."
    )
    password_secret_ref: SecretKeySelector | None = Field(
        default=None,
        description="A Secret key holding the password of an External cache (`AUTH`), given to the "
        "backend as `REDIS_PASSWORD` so the URL itself can stay free of credentials. Optional: omit it "
        "when the cache needs no password or the URL already carries one (External). A Managed cache "
        "always has a password: generated once into the Secret `<name>-redis`.",
    )

    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port of the External Redis when it comes from `secretRef`, the only port the "
        f"backend may open to it. With `url`, the url's port. Default: {DEFAULT_REDIS_PORT}.",
    )
    cidrs: list[Cidr] | None = Field(
        default=None,
        min_length=1,
        max_length=16,
        description="Networks the External Redis lives in (e.g. the ElastiCache subnets' CIDRs); egress "
        "to it is allowed only there. Default: any address, on its port only.",
    )
    placement: Placement | None = Field(
        default=None,
        description="Where the Redis pod runs (Managed); each field set here replaces that field of "
        "`spec.placement`.",
    )

    @property
    def external_port(self) -> int:
        """The port the backend's egress policy opens to an External Redis."""
        if self.port is not None:
            return self.port
        if self.url is not None:
            port = urlsplit(self.url).port
            if port is not None:
                return port
        return DEFAULT_REDIS_PORT

    @model_validator(mode="after")
    def _source_fits_mode(self) -> "CacheSpec":
        has_url, has_ref = self.url is not None, self.secret_ref is not None
        if self.mode == "External" and has_url == has_ref:
            raise ValueError(EXTERNAL_CACHE_ONE_SOURCE)
        if self.mode != "External" and (has_url or has_ref or self.password_secret_ref is not None):
            raise ValueError(CACHE_SOURCE_ONLY_EXTERNAL)
        if self.mode != "External" and (self.port is not None or self.cidrs is not None):
            raise ValueError(CACHE_ADDRESS_ONLY_EXTERNAL)
        if has_url and self.port is not None:
            raise ValueError(CACHE_PORT_FROM_URL)
        if self.mode != "Managed" and self.placement is not None:
            raise ValueError(CACHE_PLACEMENT_ONLY_MANAGED)
        return self

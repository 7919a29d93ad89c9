"""The WebStack API: pydantic models of `spec` and `status`, the single source of truth.

`crd.py` turns these models into the CRD's structural schema, so every field's type, default, bound,
pattern and description is written once, here. Cross-field rules are written twice on purpose: as CEL
(`x-kubernetes-validations`, enforced by the apiserver on create and update) and as a pydantic validator
(enforced offline by `webstack-operator render` and by the operator on what it reads), both with the same
message, so a user sees one wording wherever a bad spec is caught. Transition rules (immutability) exist
only as CEL: they need the old object, which only the apiserver has.
"""

import ipaddress
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic.alias_generators import to_camel

from webstack_operator.api.cron import CronError, period_seconds
from webstack_operator.kube.quantity import QUANTITY_PATTERN, is_quantity, parse_quantity

GROUP = "webstack.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "WebStack"
PLURAL = "webstacks"

# A WebStack's name prefixes every child's name. The longest children are the Service
# `<name>-backend-canary` (a DNS-1035 label, at most 63 characters) and the StatefulSet `<name>-postgres`
# (at most 52, since its pods carry `controller-revision-hash: <sts>-<10-char hash>` as a label).
MAX_NAME_LENGTH = 40
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

# Patterns are RE2-compatible (the apiserver) and understood by pydantic's Rust regex engine alike.
_HOST_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[a-f0-9]{64}"
IMAGE_PATTERN = (
    rf"^(?:{_HOST_LABEL}(?:\.{_HOST_LABEL})*(?::[0-9]+)?/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
    rf"(?::{_TAG}|@{_DIGEST}|:{_TAG}@{_DIGEST})$"
)
DNS_LABEL_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
HOSTNAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)+$"
LABEL_VALUE_PATTERN = r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$"
ENV_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
# Argo Rollouts pause and analysis durations, Prometheus durations, Go durations (Velero's ttl).
SHORT_DURATION_PATTERN = r"^[0-9]{1,6}(s|m|h)$"
PROMETHEUS_DURATION_PATTERN = r"^[0-9]{1,6}(ms|s|m|h)$"
GO_DURATION_PATTERN = r"^([0-9]{1,6}h)?([0-9]{1,6}m)?([0-9]{1,6}s)?$"
# Five-field cron as Velero's robfig/cron parser reads it, or one of its @-descriptors.
CRON_PATTERN = (
    r"^(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every [0-9]{1,6}(s|m|h)"
    r"|([0-9*/,-]+ ){3}[0-9A-Za-z*/,-]+ [0-9A-Za-z*/,?-]+)$"
)
IAM_ROLE_ARN_PATTERN = r"^arn:aws(-cn|-us-gov)?:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512}$"
ACM_CERTIFICATE_ARN_PATTERN = (
    r"^arn:aws(-cn|-us-gov)?:acm:[a-z0-9-]+:[0-9]{12}:certificate/[A-Za-z0-9-]{1,128}$"
)
HTTP_URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*$"
REDIS_URL_PATTERN = r"^rediss?://[^\s]+$"
REDIS_MEMORY_PATTERN = r"^[1-9][0-9]{0,5}(mb|gb)$"

# Environment variables the operator sets on the backend from other fields; user env may not shadow them.
RESERVED_BACKEND_ENV = (
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGDATABASE",
    "DATABASE_URL",
    "REDIS_URL",
    "REDIS_PASSWORD",
    "CACHE_TTL_SECONDS",
    "LOG_LEVEL",
    "RUN_MIGRATIONS",
)

# Keys of the credentials Secret, whichever way it is provided.
MANAGED_CREDENTIAL_KEYS = ("username", "password", "database")
EXTERNAL_CREDENTIAL_KEY = "uri"


def cel(
    rule: str, message: str, *, field_path: str | None = None, reason: str | None = None
) -> dict[str, str]:
    """One `x-kubernetes-validations` entry."""
    entry = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def _cel_list(*rules: dict[str, str]) -> dict[str, Any]:
    return {"x-kubernetes-validations": list(rules)}


class _Model(BaseModel):
    """camelCase on the wire (only: offline validation accepts exactly what the apiserver accepts),
    immutable in memory, unknown fields rejected (a typo is an error, not a silently ignored setting)."""

    model_config = ConfigDict(alias_generator=to_camel, extra="forbid", frozen=True)


def _section(model: type[BaseModel], description: str) -> Any:
    """A sub-object that may be omitted. Its CRD default is written out in full (not `{}`): the apiserver
    checks a default against the object's CEL rules as written, without first applying nested defaults."""
    default = model().model_dump(mode="json", by_alias=True, exclude_none=True)
    return Field(default_factory=model, description=description, json_schema_extra={"default": default})


# ---------------------------------------------------------------------------------------------------------
# Shared field types
# ---------------------------------------------------------------------------------------------------------

IMAGE_NOT_LATEST = "pin a version tag or a digest: ':latest' cannot be rolled back or reviewed"


def _check_image(value: str) -> str:
    if value.endswith(":latest"):
        raise ValueError(IMAGE_NOT_LATEST)
    return value


Image = Annotated[
    str,
    Field(
        pattern=IMAGE_PATTERN,
        max_length=512,
        json_schema_extra=_cel_list(cel("!self.endsWith(':latest')", IMAGE_NOT_LATEST)),
    ),
    AfterValidator(_check_image),
]


def _check_quantity(value: int | str) -> int | str:
    if isinstance(value, int):
        if value < 0:
            raise ValueError("a quantity may not be negative")
        return value
    if not is_quantity(value):
        raise ValueError(f"{value!r} is not a Kubernetes quantity (e.g. 100m, 500m, 128Mi, 1Gi)")
    return value


# The same int-or-string form Kubernetes uses for resource.Quantity (`cpu: 1` and `cpu: 100m` both work).
Quantity = Annotated[
    int | str,
    AfterValidator(_check_quantity),
    WithJsonSchema(
        {
            "anyOf": [{"type": "integer"}, {"type": "string"}],
            "pattern": QUANTITY_PATTERN,
            "x-kubernetes-int-or-string": True,
        }
    ),
]

DnsLabel = Annotated[str, Field(pattern=DNS_LABEL_PATTERN, min_length=1, max_length=63)]
DnsSubdomain = Annotated[str, Field(pattern=DNS_SUBDOMAIN_PATTERN, min_length=1, max_length=253)]

CIDR_MESSAGE = "must be a CIDR such as 10.0.0.0/16 or 2600:1f18::/56, with no bits set after the prefix"
_CIDR_SHAPE = re.compile(r"^[0-9a-fA-F:.]+/[0-9]{1,3}$")


def _check_cidr(value: str) -> str:
    try:
        if not _CIDR_SHAPE.match(value):
            raise ValueError(value)
        ipaddress.ip_network(value, strict=True)
    except ValueError:
        raise ValueError(f"{value!r} {CIDR_MESSAGE}") from None
    return value


# An IPv4 or IPv6 network as a NetworkPolicy ipBlock takes it. `isCIDR`/`cidr()` are the apiserver's CIDR
# CEL library (Kubernetes 1.31+).
Cidr = Annotated[
    str,
    Field(
        max_length=43,
        json_schema_extra=_cel_list(cel("isCIDR(self) && cidr(self) == cidr(self).masked()", CIDR_MESSAGE)),
    ),
    AfterValidator(_check_cidr),
]

# Label keys and values as a NetworkPolicy selector takes them (`prefix/name: value`).
LABEL_KEY_PATTERN = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_CEL_LABEL_KEY = LABEL_KEY_PATTERN.replace("\\", "\\\\")  # a CEL string literal escapes backslashes
LABEL_KEY_MESSAGE = "every key must be a label key such as k8s-app or kubernetes.io/metadata.name"


def _check_label_keys(value: dict[str, str]) -> dict[str, str]:
    bad = [key for key in value if len(key) > 317 or not re.match(LABEL_KEY_PATTERN, key)]
    if bad:
        raise ValueError(f"{LABEL_KEY_MESSAGE} (got {', '.join(map(repr, bad))})")
    return value


Labels = Annotated[
    dict[str, Annotated[str, Field(pattern=LABEL_VALUE_PATTERN, max_length=63)]],
    Field(
        min_length=1,
        max_length=8,
        json_schema_extra=_cel_list(
            cel(f"self.all(k, size(k) <= 317 && k.matches('{_CEL_LABEL_KEY}'))", LABEL_KEY_MESSAGE)
        ),
    ),
    AfterValidator(_check_label_keys),
]


class LocalObjectReference(_Model):
    """A reference to an object in the WebStack's own namespace."""

    name: DnsSubdomain = Field(description="Name of the object, in the WebStack's namespace.")


class ResourceList(_Model):
    """CPU and memory quantities."""

    cpu: Quantity = Field(description="CPU, in cores or millicores (e.g. `100m`, `1`).")
    memory: Quantity = Field(description="Memory, in bytes with an optional suffix (e.g. `128Mi`, `1Gi`).")


class LimitList(_Model):
    """Limits: memory is required (an unbounded container can take a node down); CPU is optional."""

    cpu: Quantity | None = Field(
        default=None, description="CPU limit. Omit to avoid CFS throttling; the request still reserves CPU."
    )
    memory: Quantity = Field(description="Memory limit; the container is OOM-killed above it.")


RESOURCES_LIMIT_BELOW_REQUEST = "limits.memory must be at least requests.memory"
RESOURCES_CPU_LIMIT_BELOW_REQUEST = "limits.cpu must be at least requests.cpu"


class Resources(_Model):
    """Compute resources of one container; both requests and a memory limit are always set."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
            cel(
                "quantity(string(self.limits.memory)).compareTo(quantity(string(self.requests.memory))) >= 0",
                RESOURCES_LIMIT_BELOW_REQUEST,
                field_path=".limits.memory",
            ),
            cel(
                "!has(self.limits.cpu) || "
                "quantity(string(self.limits.cpu)).compareTo(quantity(string(self.requests.cpu))) >= 0",
                RESOURCES_CPU_LIMIT_BELOW_REQUEST,
                field_path=".limits.cpu",
            ),
        )
    )

    requests: ResourceList = Field(description="What the scheduler reserves for the container.")
    limits: LimitList = Field(description="The most the container may use.")

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> "Resources":
        if parse_quantity(self.limits.memory) < parse_quantity(self.requests.memory):
            raise ValueError(RESOURCES_LIMIT_BELOW_REQUEST)
        if self.limits.cpu is not None and parse_quantity(self.limits.cpu) < parse_quantity(
            self.requests.cpu
        ):
            raise ValueError(RESOURCES_CPU_LIMIT_BELOW_REQUEST)
        return self


def _resources(cpu: str, memory: str, cpu_limit: str | None, memory_limit: str) -> Resources:
    return Resources(
        requests=ResourceList(cpu=cpu, memory=memory), limits=LimitList(cpu=cpu_limit, memory=memory_limit)
    )


# ---------------------------------------------------------------------------------------------------------
# Backend
# ---------------------------------------------------------------------------------------------------------


class SecretKeySelector(_Model):
    """A key of a Secret in the WebStack's namespace."""

    name: DnsSubdomain = Field(description="Name of the Secret.")
    key: str = Field(
        min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$", description="Key in the Secret."
    )


class ConfigMapKeySelector(_Model):
    """A key of a ConfigMap in the WebStack's namespace."""

    name: DnsSubdomain = Field(description="Name of the ConfigMap.")
    key: str = Field(
        min_length=1, max_length=253, pattern=r"^[-._a-zA-Z0-9]+$", description="Key in the ConfigMap."
    )


ENV_SOURCE_ONE_OF = "set exactly one of secretKeyRef or configMapKeyRef"


class EnvVarSource(_Model):
    """Where a variable's value comes from, instead of a literal."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
            cel("has(self.secretKeyRef) != has(self.configMapKeyRef)", ENV_SOURCE_ONE_OF)
        )
    )

    secret_key_ref: SecretKeySelector | None = Field(
        default=None, description="Read the value from a Secret."
    )
    config_map_key_ref: ConfigMapKeySelector | None = Field(
        default=None, description="Read the value from a ConfigMap."
    )

    @model_validator(mode="after")
    def _one_source(self) -> "EnvVarSource":
        if (self.secret_key_ref is None) == (self.config_map_key_ref is None):
            raise ValueError(ENV_SOURCE_ONE_OF)
        return self


ENV_VALUE_OR_SOURCE = "set value or valueFrom, not both"


class EnvVar(_Model):
    """An extra environment variable for the backend container."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(cel("!(has(self.value) && has(self.valueFrom))", ENV_VALUE_OR_SOURCE))
    )

    name: str = Field(
        pattern=ENV_NAME_PATTERN, min_length=1, max_length=128, description="Variable name (a C identifier)."
    )
    value: str | None = Field(default=None, max_length=32768, description="Literal value.")
    value_from: EnvVarSource | None = Field(
        default=None, description="Take the value from a Secret or ConfigMap."
    )

    @model_validator(mode="after")
    def _value_or_source(self) -> "EnvVar":
        if self.value is not None and self.value_from is not None:
            raise ValueError(ENV_VALUE_OR_SOURCE)
        return self


AUTOSCALING_MAX_BELOW_MIN = "maxReplicas must be greater than or equal to minReplicas"


class Autoscaling(_Model):
    """A HorizontalPodAutoscaler on the backend. While set, it owns the replica count."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
            cel("self.maxReplicas >= self.minReplicas", AUTOSCALING_MAX_BELOW_MIN, field_path=".maxReplicas")
        )
    )

    min_replicas: int = Field(default=2, ge=1, le=100, description="Fewest backend pods.")
    max_replicas: int = Field(default=10, ge=1, le=100, description="Most backend pods.")
    target_cpu_utilization_percentage: int = Field(
        default=70,
        ge=1,
        le=100,
        alias="targetCPUUtilizationPercentage",
        description="Average CPU use, as a percentage of the request, the autoscaler aims for.",
    )
    target_memory_utilization_percentage: int | None = Field(
        default=None,
        ge=1,
        le=100,
        description="Average memory use, as a percentage of the request, the autoscaler also aims for.",
    )

    @model_validator(mode="after")
    def _max_at_least_min(self) -> "Autoscaling":
        if self.max_replicas < self.min_replicas:
            raise ValueError(AUTOSCALING_MAX_BELOW_MIN)
        return self


class CanaryPause(_Model):
    """Hold the rollout: for a duration, or until promoted (`kubectl argo rollouts promote`)."""

    duration: str | None = Field(
        default=None,
        pattern=SHORT_DURATION_PATTERN,
        max_length=16,
        description="How long to wait (e.g. `30s`, `2m`, `1h`). Omit to wait for a manual promotion.",
    )


CANARY_STEP_ONE_OF = "a step sets exactly one of setWeight or pause"


class CanaryStep(_Model):
    """One Argo Rollouts canary step."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(cel("has(self.setWeight) != has(self.pause)", CANARY_STEP_ONE_OF))
    )

    set_weight: int | None = Field(
        default=None, ge=0, le=100, description="Percentage of traffic (or pods) sent to the new version."
    )
    pause: CanaryPause | None = Field(default=None, description="Wait before the next step.")

    @model_validator(mode="after")
    def _one_action(self) -> "CanaryStep":
        if (self.set_weight is None) == (self.pause is None):
            raise ValueError(CANARY_STEP_ONE_OF)
        return self


class CanaryAnalysis(_Model):
    """Automatic canary judgement from the users API's own metrics, queried from Prometheus.

    A measurement without traffic (NaN or no series) is inconclusive, which pauses the rollout for a human
    rather than promoting a version nobody has exercised.
    """

    prometheus_address: str = Field(
        pattern=HTTP_URL_PATTERN,
        max_length=512,
        description="Prometheus base URL (e.g. `http://prometheus-operated.monitoring:9090`).",
    )
    min_success_rate: float = Field(
        default=0.99, ge=0, le=1, description="Lowest share of non-5xx responses the canary may serve."
    )
    max_p95_latency_seconds: float = Field(
        default=0.5,
        gt=0,
        le=60,
        description="Highest 95th-percentile request latency of the canary, in seconds.",
    )
    interval: str = Field(
        default="1m", pattern=SHORT_DURATION_PATTERN, max_length=16, description="Time between measurements."
    )
    failure_limit: int = Field(
        default=1, ge=0, le=10, description="Failed measurements tolerated before the rollout is aborted."
    )
    initial_delay: str | None = Field(
        default=None,
        pattern=SHORT_DURATION_PATTERN,
        max_length=16,
        description=(
            "Wait before the first measurement, so the canary has served traffic and been scraped "
            "(default: one `interval`)."
        ),
    )


CANARY_NEEDS_STEPS = "strategy Canary needs at least one step"
STEPS_ONLY_FOR_CANARY = "steps and analysis apply only to strategy Canary"


class Delivery(_Model):
    """How a new backend image is rolled out."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
            cel(
                "self.strategy != 'Canary' || (has(self.steps) && size(self.steps) > 0)",
                CANARY_NEEDS_STEPS,
                field_path=".steps",
            ),
            cel(
                "self.strategy == 'Canary' || (!has(self.steps) && !has(self.analysis))",
                STEPS_ONLY_FOR_CANARY,
            ),
        )
    )

    strategy: Literal["RollingUpdate", "Canary"] = Field(
        default="RollingUpdate",
        description=(
            "`RollingUpdate`: a Deployment. `Canary`: an Argo Rollouts Rollout with stable and canary "
            "Services (the operator falls back to a Deployment when Argo Rollouts is not installed)."
        ),
    )
    steps: list[CanaryStep] | None = Field(
        default=None, max_length=32, description="Canary steps, in order (Canary only)."
    )
    analysis: CanaryAnalysis | None = Field(
        default=None, description="Background analysis that aborts a bad canary (Canary only)."
    )

    @model_validator(mode="after")
    def _canary_fields(self) -> "Delivery":
        if self.strategy == "Canary" and not self.steps:
            raise ValueError(CANARY_NEEDS_STEPS)
        if self.strategy != "Canary" and (self.steps is not None or self.analysis is not None):
            raise ValueError(STEPS_ONLY_FOR_CANARY)
        return self


ENV_RESERVED = "env may not set variables the operator manages: " + ", ".join(RESERVED_BACKEND_ENV)


class BackendSpec(_Model):
    """The users API: a Deployment, or an Argo Rollouts Rollout for canary delivery."""

    image: Image = Field(description="Container image with a tag or digest.")
    replicas: int = Field(default=2, ge=1, le=100, description="Pod count when autoscaling is not set.")
    resources: Resources = Field(
        default=_resources("100m", "128Mi", "1", "256Mi"),
        description="Compute resources of the API container.",
    )
    env: list[EnvVar] | None = Field(
        default=None,
        max_length=64,
        description="Extra environment variables, after the ones the operator sets.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            **_cel_list(cel(f"self.all(e, !(e.name in {list(RESERVED_BACKEND_ENV)!r}))", ENV_RESERVED)),
        },
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Log level of the API (`LOG_LEVEL`)."
    )
    autoscaling: Autoscaling | None = Field(default=None, description="Scale on CPU (and memory) use.")
    iam_role_arn: str | None = Field(
        default=None,
        pattern=IAM_ROLE_ARN_PATTERN,
        max_length=600,
        description="IAM role for the backend's ServiceAccount (EKS IRSA).",
    )
    delivery: Delivery = _section(Delivery, "How new versions are rolled out.")

    @model_validator(mode="after")
    def _env_not_reserved(self) -> "BackendSpec":
        if any(e.name in RESERVED_BACKEND_ENV for e in self.env or ()):
            raise ValueError(ENV_RESERVED)
        return self


class FrontendSpec(_Model):
    """The static UI on nginx, which also proxies `/api` to the backend."""

    image: Image = Field(
        default="docker.io/nginxinc/nginx-unprivileged:1.27-alpine",
        description="An unprivileged nginx image (runs as uid 101, listens on 8080).",
    )
    replicas: int = Field(default=2, ge=1, le=100, description="Pod count.")
    resources: Resources = Field(
        default=_resources("50m", "32Mi", "500m", "128Mi"), description="Compute resources of nginx."
    )


# ---------------------------------------------------------------------------------------------------------
# Database and credentials
# ---------------------------------------------------------------------------------------------------------

STORAGE_CLASS_IMMUTABLE = "storageClassName is immutable: a volume cannot move to another storage class"
STORAGE_SIZE_IMMUTABLE = (
    "size is immutable: StatefulSet volume claim templates cannot change; expand the PVC directly"
)


class Storage(_Model):
    """The database volume (a PersistentVolumeClaim per Postgres pod)."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
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


class SealedCredentials(_Model):
    """A Bitnami SealedSecret, rendered as-is, whose controller decrypts it into the credentials Secret.

    Seal it for the Secret `<webstack-name>-postgres` in the WebStack's namespace (strict scope).
    """

    encrypted_data: dict[str, Annotated[str, Field(min_length=1, max_length=16384)]] = Field(
        min_length=1,
        max_length=16,
        description="`kubeseal` output: Secret key to encrypted value (keys `username`, `password`, "
        "`database` for a Managed database, `uri` for an External one).",
    )


class ExternalSecretStoreRef(_Model):
    """The External Secrets Operator store that holds the credentials."""

    name: DnsSubdomain = Field(description="Name of the SecretStore or ClusterSecretStore.")
    kind: Literal["SecretStore", "ClusterSecretStore"] = Field(
        default="SecretStore", description="Kind of store."
    )


class ExternalSecretProperties(_Model):
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


class ExternalCredentials(_Model):
    """An External Secrets Operator ExternalSecret that syncs the credentials Secret from a secret manager."""

    store_ref: ExternalSecretStoreRef = Field(description="The store to read from.")
    remote_key: str = Field(
        min_length=1,
        max_length=1024,
        description="Key of the secret in the store (e.g. `prod/shop/postgres`).",
    )
    properties: ExternalSecretProperties = _section(
        ExternalSecretProperties,
        "Mapping of the remote secret's properties to the credentials Secret's keys.",
    )
    refresh_interval: str = Field(
        default="1h", pattern=SHORT_DURATION_PATTERN, max_length=16, description="How often to re-sync."
    )


CREDENTIALS_ONE_SOURCE = "set at most one of secretRef, sealedSecret or externalSecret"


class Credentials(_Model):
    """Database credentials. With no source set, the operator generates them once and never rotates them."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
            cel(
                "(has(self.secretRef) ? 1 : 0) + (has(self.sealedSecret) ? 1 : 0) + "
                "(has(self.externalSecret) ? 1 : 0) <= 1",
                CREDENTIALS_ONE_SOURCE,
            )
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

    @model_validator(mode="after")
    def _one_source(self) -> "Credentials":
        if sum(x is not None for x in (self.secret_ref, self.sealed_secret, self.external_secret)) > 1:
            raise ValueError(CREDENTIALS_ONE_SOURCE)
        return self

    @property
    def generated(self) -> bool:
        """True when the operator generates the credentials itself."""
        return self.secret_ref is None and self.sealed_secret is None and self.external_secret is None


EXTERNAL_DATABASE_NEEDS_CREDENTIALS = (
    "mode External needs credentials.secretRef (a Secret with key uri), sealedSecret or externalSecret"
)
SEALED_KEYS_MANAGED = "credentials.sealedSecret.encryptedData needs keys username, password and database"
SEALED_KEYS_EXTERNAL = "credentials.sealedSecret.encryptedData needs key uri for mode External"
DATABASE_ADDRESS_ONLY_EXTERNAL = "port and cidrs apply only to mode External"
# A transition rule (CEL only, it needs the old object): the edit that stops the Managed database would
# otherwise be the one that deletes its volume. Under Retain the operator keeps the StatefulSet, its claim and
# the credentials as orphans (docs/architecture.md, Transitions).
MANAGED_TO_EXTERNAL_UNDER_DELETE = (
    "mode cannot change from Managed to External while deletionPolicy is Delete: deletionPolicy Delete "
    "would make this edit delete the database volume and its credentials. Set deletionPolicy: Retain "
    "(in this edit or before it); the operator then keeps the StatefulSet, its PVC and the credentials "
    "Secret as orphans, for you to migrate the data and delete them by hand"
)
DEFAULT_POSTGRES_PORT = 5432
DEFAULT_REDIS_PORT = 6379


class DatabaseSpec(_Model):
    """PostgreSQL: a StatefulSet the operator runs (Managed), or a server elsewhere such as RDS (External)."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
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
    storage: Storage = _section(Storage, "The data volume (Managed).")
    credentials: Credentials = _section(Credentials, "Where the database credentials come from.")
    deletion_policy: Literal["Retain", "Delete"] = Field(
        default="Retain",
        description="`Retain` keeps the data volume and generated credentials when the WebStack is deleted; "
        "`Delete` removes them with it.",
    )
    resources: Resources = Field(
        default=_resources("250m", "256Mi", None, "1Gi"),
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
        return self


# ---------------------------------------------------------------------------------------------------------
# Cache
# ---------------------------------------------------------------------------------------------------------

EXTERNAL_CACHE_ONE_SOURCE = "mode External needs exactly one of url or secretRef"
CACHE_SOURCE_ONLY_EXTERNAL = "url, secretRef and passwordSecretRef apply only to mode External"
CACHE_ADDRESS_ONLY_EXTERNAL = "port and cidrs apply only to mode External"
CACHE_PORT_FROM_URL = "with url the port is the url's (default 6379); set port only with secretRef"


class CacheSpec(_Model):
    """Redis as a cache-aside layer: a Deployment without persistence (Managed), elsewhere, or none."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
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
        return self


# ---------------------------------------------------------------------------------------------------------
# Ingress, monitoring, backup, security
# ---------------------------------------------------------------------------------------------------------

INGRESS_NEEDS_HOST = "host is required when ingress is enabled"


class IngressSpec(_Model):
    """An Ingress: `/api` to the backend, `/` to the frontend. AWS Load Balancer Controller settings apply
    when `className` is `alb`."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
            cel("!self.enabled || has(self.host)", INGRESS_NEEDS_HOST, field_path=".host")
        )
    )

    enabled: bool = Field(default=False, description="Render the Ingress.")
    host: str | None = Field(
        default=None, pattern=HOSTNAME_PATTERN, max_length=253, description="Fully qualified host name."
    )
    class_name: str = Field(
        default="alb", pattern=DNS_SUBDOMAIN_PATTERN, max_length=253, description="IngressClass name."
    )
    scheme: Literal["internet-facing", "internal"] = Field(
        default="internet-facing", description="ALB scheme (alb only)."
    )
    certificate_arn: str | None = Field(
        default=None,
        pattern=ACM_CERTIFICATE_ARN_PATTERN,
        max_length=300,
        description="ACM certificate: serve HTTPS on 443 and redirect HTTP to it (alb only).",
    )
    group_name: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$",
        max_length=63,
        description="Share one ALB between Ingresses of the same group (alb only).",
    )
    annotations: dict[str, Annotated[str, Field(max_length=4096)]] | None = Field(
        default=None,
        max_length=32,
        description="Extra Ingress annotations; they override the operator's on conflict.",
    )
    source_cidrs: list[Cidr] | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Networks the Ingress controller's proxies connect to the frontend and backend pods "
        "from; NetworkPolicies admit client traffic from these only. With the AWS ALB in `ip` target mode "
        "the ALB connects from its own addresses in its subnets: list those subnets' CIDRs (or the VPC "
        "CIDR). Default (unset): the private ranges 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 and "
        "fc00::/7, which hold every VPC's load balancers, nodes and (with the VPC CNI) pods, and no "
        "internet address; so any pod or node in the cluster may reach these two ports too. Applies "
        "whether or not `enabled` is set (an Ingress managed elsewhere may target the Services).",
    )

    @model_validator(mode="after")
    def _host_when_enabled(self) -> "IngressSpec":
        if self.enabled and self.host is None:
            raise ValueError(INGRESS_NEEDS_HOST)
        return self


# The alerts of a stack's PrometheusRule (builders/monitoring.py renders exactly these), for `alertFor`.
STACK_ALERTS = (
    "WebStackHighErrorRate",
    "WebStackHighLatency",
    "WebStackBackendDown",
    "WebStackLowCacheHitRatio",
    "WebStackPostgresUnreachable",
    "WebStackPostgresNotReady",
    "WebStackRedisUnreachable",
    "WebStackBackupFailing",
    "WebStackBackupMissing",
)
ALERT_FOR_DEFAULT_KEY = "default"
# The largest finite bucket of users_api.metrics.LATENCY_BUCKETS (a unit test keeps them equal).
MAX_OBSERVABLE_LATENCY_SECONDS = 10.0
ALERT_FOR_UNKNOWN_KEY = "alertFor keys are `default` or an alert name: " + ", ".join(STACK_ALERTS)


class AlertThresholds(_Model):
    """When the PrometheusRule alerts fire."""

    error_rate: float = Field(default=0.05, gt=0, lt=1, description="Share of 5xx responses over 5 minutes.")
    p95_latency_seconds: float = Field(
        default=0.5,
        gt=0,
        lt=MAX_OBSERVABLE_LATENCY_SECONDS,
        description="95th-percentile latency; below 10s, the users API's largest latency bucket (a quantile "
        "above it cannot be computed, so such an alert could never fire).",
    )
    min_cache_hit_ratio: float = Field(
        default=0.5, ge=0, le=1, description="Lowest cache hit ratio over 30m; 0 turns the alert off."
    )
    max_cache_bypass_ratio: float = Field(
        default=0.5,
        gt=0,
        lt=1,
        description="Share of cached reads that skipped Redis (circuit open) over 5 minutes above which "
        "Redis counts as unreachable.",
    )


class MonitoringSpec(_Model):
    """Prometheus Operator objects: a ServiceMonitor, alerts and a Grafana dashboard ConfigMap."""

    enabled: bool = Field(
        default=True, description="Render monitoring objects (skipped without the Prometheus Operator)."
    )
    release: str = Field(
        default="kube-prometheus-stack",
        pattern=LABEL_VALUE_PATTERN,
        max_length=63,
        description="Value of the `release` label the Prometheus instance selects on.",
    )
    scrape_interval: str = Field(
        default="30s", pattern=PROMETHEUS_DURATION_PATTERN, max_length=16, description="Scrape interval."
    )
    alerts: bool = Field(default=True, description="Render the PrometheusRule.")
    dashboard: bool = Field(default=True, description="Render the Grafana dashboard ConfigMap.")
    thresholds: AlertThresholds = _section(AlertThresholds, "Alert thresholds.")
    alert_for: dict[str, Annotated[str, Field(pattern=PROMETHEUS_DURATION_PATTERN, max_length=16)]] | None = (
        Field(
            default=None,
            max_length=len(STACK_ALERTS) + 1,
            description="How long a condition must hold before its alert fires (the rule's `for:`), by alert "
            "name, or `default` for every alert not named; e.g. `{default: 30s}` in a test. Unset: each "
            "alert's own duration.",
            json_schema_extra=_cel_list(
                cel(
                    "self.all(k, k in " + str([ALERT_FOR_DEFAULT_KEY, *STACK_ALERTS]) + ")",
                    ALERT_FOR_UNKNOWN_KEY,
                )
            ),
        )
    )

    @model_validator(mode="after")
    def _alert_for_names_alerts(self) -> "MonitoringSpec":
        known = {ALERT_FOR_DEFAULT_KEY, *STACK_ALERTS}
        if self.alert_for is not None and not set(self.alert_for) <= known:
            raise ValueError(ALERT_FOR_UNKNOWN_KEY)
        return self


class BackupSpec(_Model):
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


class DnsSelector(_Model):
    """Where the cluster DNS pods run: the only DNS servers the stack's pods may query."""

    namespace_labels: Labels = Field(
        default_factory=lambda: {"kubernetes.io/metadata.name": "kube-system"},
        description="Labels of the DNS pods' namespace.",
        json_schema_extra={"default": {"kubernetes.io/metadata.name": "kube-system"}},
    )
    pod_labels: Labels = Field(
        default_factory=lambda: {"k8s-app": "kube-dns"},
        description="Labels of the DNS pods (CoreDNS on EKS, kubeadm and kind carries `k8s-app: kube-dns`).",
        json_schema_extra={"default": {"k8s-app": "kube-dns"}},
    )


class SecuritySpec(_Model):
    """Isolation and availability."""

    network_policies: bool = Field(
        default=True,
        description="Default-deny NetworkPolicies with precise allows (see docs/architecture.md, Network "
        "connectivity). They take effect only where the CNI enforces NetworkPolicies; on EKS enable the VPC "
        'CNI\'s network policy agent (`enableNetworkPolicy: "true"`).',
    )
    dns: DnsSelector = _section(
        DnsSelector,
        "The cluster DNS pods the stack's pods may query on UDP and TCP 53; change it where the cluster's "
        "DNS pods carry other labels.",
    )
    pod_disruption_budgets: bool = Field(
        default=True, description="PodDisruptionBudgets for backend and frontend."
    )
    priority_class_name: str | None = Field(
        default=None,
        pattern=DNS_SUBDOMAIN_PATTERN,
        max_length=253,
        description="PriorityClass of every pod in the stack.",
    )


ANALYSIS_NEEDS_MONITORING = (
    "backend.delivery.analysis needs monitoring.enabled: the analysis reads the metrics the "
    "ServiceMonitor collects"
)


class WebStackSpec(_Model):
    """A whole web stack: backend, frontend, database, cache, ingress, monitoring and backups."""

    model_config = ConfigDict(
        json_schema_extra=_cel_list(
            cel(
                "!has(self.backend.delivery) || !has(self.backend.delivery.analysis) || "
                "!has(self.monitoring) || self.monitoring.enabled",
                ANALYSIS_NEEDS_MONITORING,
                field_path=".monitoring.enabled",
            )
        )
    )

    paused: bool = Field(default=False, description="Stop reconciling; every object stays as it is.")
    backend: BackendSpec = Field(description="The users API.")
    frontend: FrontendSpec = _section(FrontendSpec, "The static UI and `/api` proxy.")
    database: DatabaseSpec = _section(DatabaseSpec, "PostgreSQL.")
    cache: CacheSpec = _section(CacheSpec, "Redis.")
    ingress: IngressSpec = _section(IngressSpec, "External access.")
    monitoring: MonitoringSpec = _section(MonitoringSpec, "Metrics, alerts and dashboard.")
    backup: BackupSpec = _section(BackupSpec, "Scheduled backups.")
    security: SecuritySpec = _section(SecuritySpec, "Network isolation, disruption budgets, priority.")
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        default=None, max_length=8, description="Secrets for pulling the stack's images."
    )

    @model_validator(mode="after")
    def _analysis_needs_monitoring(self) -> "WebStackSpec":
        if self.backend.delivery.analysis is not None and not self.monitoring.enabled:
            raise ValueError(ANALYSIS_NEEDS_MONITORING)
        return self


# ---------------------------------------------------------------------------------------------------------
# Status
# ---------------------------------------------------------------------------------------------------------

Phase = Literal["Pending", "Progressing", "Ready", "Degraded", "Failed", "Paused"]


class ComponentStatus(_Model):
    """Readiness of one component."""

    ready: int = Field(default=0, ge=0, description="Ready pods.")
    desired: int = Field(default=0, ge=0, description="Desired pods.")
    image: str | None = Field(default=None, max_length=512, description="Image the component runs.")


class ComponentsStatus(_Model):
    """Readiness per component; a component that is not run by the operator (External, Disabled) is absent."""

    backend: ComponentStatus | None = Field(default=None, description="The users API.")
    frontend: ComponentStatus | None = Field(default=None, description="nginx.")
    database: ComponentStatus | None = Field(default=None, description="Postgres (Managed).")
    cache: ComponentStatus | None = Field(default=None, description="Redis (Managed).")


class BackupStatus(_Model):
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


class Condition(_Model):
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


class WebStackStatus(_Model):
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
        default=None, description="The last backups, when `backup.enabled` and Velero is installed."
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
    conditions: list[Condition] | None = Field(
        default=None,
        max_length=24,  # 13 today (Ready, one per component, Migrated, canary, monitoring, backups, ...)
        description="Current conditions.",
        json_schema_extra={"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"]},
    )


# ---------------------------------------------------------------------------------------------------------
# Parsing with field paths
# ---------------------------------------------------------------------------------------------------------


class SpecError(ValueError):
    """A WebStack that does not validate; `problems` lists (field path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{path}: {message}" for path, message in problems))


def _path(prefix: str, loc: tuple[int | str, ...]) -> str:
    out = prefix
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _problems(error: ValidationError, prefix: str) -> list[tuple[str, str]]:
    problems = []
    for item in error.errors(include_url=False):
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown field"
        elif item["type"] == "string_pattern_mismatch":
            message = f"{item['input']!r} does not match the pattern {item['ctx']['pattern']}"
        elif item["type"] == "literal_error":
            message = f"{item['input']!r} is not one of {item['ctx']['expected']}"
        problems.append((_path(prefix, item["loc"]), message))
    return problems


_NAME = re.compile(NAME_PATTERN)
NAME_MESSAGE = (
    f"must be at most {MAX_NAME_LENGTH} characters of lowercase letters, digits and '-', start with a letter "
    "and end with a letter or digit (children's names and labels are derived from it)"
)


def validate_name(name: str) -> None:
    """Reject a WebStack name whose children's names would break Kubernetes limits."""
    if len(name) > MAX_NAME_LENGTH or not _NAME.match(name):
        raise SpecError([("metadata.name", NAME_MESSAGE)])


def parse_spec(obj: Mapping[str, Any]) -> WebStackSpec:
    """Validate a WebStack object (a mapping with `spec`, and `metadata.name` when present).

    Raises SpecError naming every bad field by its path, e.g. `spec.backend.image: ...`.
    """
    metadata = obj.get("metadata")
    if isinstance(metadata, Mapping) and isinstance(metadata.get("name"), str):
        validate_name(metadata["name"])
    spec = obj.get("spec")
    if not isinstance(spec, Mapping):
        raise SpecError([("spec", "required: a WebStack needs a spec with at least backend.image")])
    try:
        return WebStackSpec.model_validate(spec)
    except ValidationError as error:
        raise SpecError(_problems(error, "spec")) from None

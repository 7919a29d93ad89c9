"""The backend (the users API): `BackendSpec`, its environment variables and its autoscaling."""

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.compute_resources import Resources
from webstack_operator.api.defaults import DEFAULT_BACKEND_RESOURCES
from webstack_operator.api.delivery_types import Delivery
from webstack_operator.api.field_types import Image
from webstack_operator.api.model_base import ApiModel, optional_section
from webstack_operator.api.object_references import ConfigMapKeySelector, SecretKeySelector
from webstack_operator.api.patterns import ENV_NAME_PATTERN, IAM_ROLE_ARN_PATTERN
from webstack_operator.api.placement_types import Placement

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


ENV_SOURCE_ONE_OF = "set exactly one of secretKeyRef or configMapKeyRef"


class EnvVarSource(ApiModel):
    """Where a variable's value comes from, instead of a literal."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
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


class EnvVar(ApiModel):
    """An extra environment variable for the backend container."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(cel("!(has(self.value) && has(self.valueFrom))", ENV_VALUE_OR_SOURCE))
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


class Autoscaling(ApiModel):
    """A HorizontalPodAutoscaler on the backend. While set, it owns the replica count."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
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


ENV_RESERVED = "env may not set variables the operator manages: " + ", ".join(RESERVED_BACKEND_ENV)


class BackendSpec(ApiModel):
    """The users API: a Deployment, or an Argo Rollouts Rollout for canary delivery."""

    image: Image = Field(description="Container image with a tag or digest.")
    replicas: int = Field(default=2, ge=1, le=100, description="Pod count when autoscaling is not set.")
    resources: Resources = Field(
        default=DEFAULT_BACKEND_RESOURCES,
        description="Compute resources of the API container.",
    )
    env: list[EnvVar] | None = Field(
        default=None,
        max_length=64,
        description="Extra environment variables, after the ones the operator sets.",
        json_schema_extra={
            "x-kubernetes-list-type": "map",
            "x-kubernetes-list-map-keys": ["name"],
            **cel_rules(cel(f"self.all(e, !(e.name in {list(RESERVED_BACKEND_ENV)!r}))", ENV_RESERVED)),
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
    delivery: Delivery = optional_section(Delivery, "How new versions are rolled out.")
    placement: Placement | None = Field(
        default=None,
        description="Where the backend's pods and its migration Job's pod run; each field set here "
        "replaces that field of `spec.placement`.",
    )

    @model_validator(mode="after")
    def _env_not_reserved(self) -> "BackendSpec":
        if any(e.name in RESERVED_BACKEND_ENV for e in self.env or ()):
            raise ValueError(ENV_RESERVED)
        return self

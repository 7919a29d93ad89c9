"""Compute resources of a container: CPU and memory requests and limits, limits covering requests."""

from pydantic import ConfigDict, Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.field_types import Quantity
from webstack_operator.api.model_base import ApiModel
from webstack_operator.kube.quantity import parse_quantity


class ResourceList(ApiModel):
    """CPU and memory quantities."""

    cpu: Quantity = Field(description="CPU, in cores or millicores (e.g. `100m`, `1`).")
    memory: Quantity = Field(description="Memory, in bytes with an optional suffix (e.g. `128Mi`, `1Gi`).")


class LimitList(ApiModel):
    """Limits: memory is required (an unbounded container can take a node down); CPU is optional."""

    cpu: Quantity | None = Field(
        default=None, description="CPU limit. Omit to avoid CFS throttling; the request still reserves CPU."
    )
    memory: Quantity = Field(description="Memory limit; the container is OOM-killed above it.")


RESOURCES_LIMIT_BELOW_REQUEST = "limits.memory must be at least requests.memory"
RESOURCES_CPU_LIMIT_BELOW_REQUEST = "limits.cpu must be at least requests.cpu"


class Resources(ApiModel):
    """Compute resources of one container; both requests and a memory limit are always set."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
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


def container_resources(cpu: str, memory: str, cpu_limit: str | None, memory_limit: str) -> Resources:
    """Requests of `cpu` and `memory`, limits of `cpu_limit` (None: no CPU limit) and `memory_limit`."""
    return Resources(
        requests=ResourceList(cpu=cpu, memory=memory), limits=LimitList(cpu=cpu_limit, memory=memory_limit)
    )

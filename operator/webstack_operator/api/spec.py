"""The WebStack's root: `WebStackSpec`, the `metadata.name` rule, and `parse_spec` with its `SpecError`.

Each section of the spec has its own module (`backend_types`, `database_types`, ...); this one puts them
together, holds the rules that span sections, and turns pydantic's errors into field paths.
"""

import re
from collections.abc import Mapping
from typing import Any

from pydantic import ConfigDict, Field, ValidationError, model_validator

from webstack_operator.api.backend_types import BackendSpec
from webstack_operator.api.backup_types import BackupSpec
from webstack_operator.api.cache_types import CacheSpec
from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.database_types import DatabaseSpec
from webstack_operator.api.frontend_types import FrontendSpec
from webstack_operator.api.ingress_types import IngressSpec
from webstack_operator.api.model_base import ApiModel, optional_section
from webstack_operator.api.monitoring_types import MonitoringSpec
from webstack_operator.api.object_references import LocalObjectReference
from webstack_operator.api.placement_types import Placement
from webstack_operator.api.security_types import SecuritySpec

# A WebStack's name prefixes every child's name. The longest children are the Service
# `<name>-backend-canary` (a DNS-1035 label, at most 63 characters) and the StatefulSet `<name>-postgres`
# (at most 52, since its pods carry `controller-revision-hash: <sts>-<10-char hash>` as a label).
MAX_NAME_LENGTH = 40
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
NAME_MESSAGE = (
    f"must be at most {MAX_NAME_LENGTH} characters of lowercase letters, digits and '-', start with a letter "
    "and end with a letter or digit (children's names and labels are derived from it)"
)
_NAME = re.compile(NAME_PATTERN)

ANALYSIS_NEEDS_MONITORING = (
    "backend.delivery.analysis needs monitoring.enabled: the analysis reads the metrics the "
    "ServiceMonitor collects"
)


class WebStackSpec(ApiModel):
    """A whole web stack: backend, frontend, database, cache, ingress, monitoring and backups."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
            cel(
                "!has(self.backend.delivery) || !has(self.backend.delivery.analysis) || "
                "!has(self.monitoring) || self.monitoring.enabled",
                ANALYSIS_NEEDS_MONITORING,
                field_path=".monitoring.enabled",
            )
        )
    )

    paused: bool = Field(default=False, description="Stop reconciling; every object stays as it is.")
    placement: Placement | None = Field(
        default=None,
        description="Where every pod of the stack runs (node selector, tolerations, topology spread), "
        "unless a component's own `placement` sets that field (docs/placement.md).",
    )
    backend: BackendSpec = Field(description="The users API.")
    frontend: FrontendSpec = optional_section(FrontendSpec, "The static UI and `/api` proxy.")
    database: DatabaseSpec = optional_section(DatabaseSpec, "PostgreSQL.")
    cache: CacheSpec = optional_section(CacheSpec, "Redis.")
    ingress: IngressSpec = optional_section(IngressSpec, "External access.")
    monitoring: MonitoringSpec = optional_section(MonitoringSpec, "Metrics, alerts and dashboard.")
    backup: BackupSpec = optional_section(BackupSpec, "Scheduled backups.")
    security: SecuritySpec = optional_section(
        SecuritySpec, "Network isolation, disruption budgets, priority."
    )
    image_pull_secrets: list[LocalObjectReference] | None = Field(
        default=None, max_length=8, description="Secrets for pulling the stack's images."
    )

    @model_validator(mode="after")
    def _analysis_needs_monitoring(self) -> "WebStackSpec":
        if self.backend.delivery.analysis is not None and not self.monitoring.enabled:
            raise ValueError(ANALYSIS_NEEDS_MONITORING)
        return self


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

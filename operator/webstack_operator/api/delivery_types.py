"""How a new backend image is rolled out: `Delivery`, with Argo Rollouts canary steps and analysis."""

from typing import Literal

from pydantic import ConfigDict, Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.model_base import ApiModel
from webstack_operator.api.patterns import HTTP_URL_PATTERN, SHORT_DURATION_PATTERN


class CanaryPause(ApiModel):
    """Hold the rollout: for a duration, or until promoted (`kubectl argo rollouts promote`)."""

    duration: str | None = Field(
        default=None,
        pattern=SHORT_DURATION_PATTERN,
        max_length=16,
        description="How long to wait (e.g. `30s`, `2m`, `1h`). Omit to wait for a manual promotion.",
    )


CANARY_STEP_ONE_OF = "a step sets exactly one of setWeight or pause"


class CanaryStep(ApiModel):
    """One Argo Rollouts canary step."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(cel("has(self.setWeight) != has(self.pause)", CANARY_STEP_ONE_OF))
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


class CanaryAnalysis(ApiModel):
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


class Delivery(ApiModel):
    """How a new backend image is rolled out."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
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

"""The frontend: `FrontendSpec`, the static UI on nginx."""

from pydantic import Field

from webstack_operator.api.compute_resources import Resources
from webstack_operator.api.defaults import DEFAULT_FRONTEND_RESOURCES
from webstack_operator.api.field_types import Image
from webstack_operator.api.model_base import ApiModel
from webstack_operator.api.placement_types import Placement


class FrontendSpec(ApiModel):
    """The static UI on nginx, which also proxies `/api` to the backend."""

    image: Image = Field(
        default="docker.io/nginxinc/nginx-unprivileged:1.27-alpine",
        description="An unprivileged nginx image (runs as uid 101, listens on 8080).",
    )
    replicas: int = Field(default=2, ge=1, le=100, description="Pod count.")
    resources: Resources = Field(
        default=DEFAULT_FRONTEND_RESOURCES, description="Compute resources of nginx."
    )
    placement: Placement | None = Field(
        default=None,
        description="Where the frontend's pods run; each field set here replaces that field of "
        "`spec.placement`.",
    )

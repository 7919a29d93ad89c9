"""External access: `IngressSpec`, an Ingress with AWS Load Balancer Controller settings."""

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, model_validator

from webstack_operator.api.cel import cel, cel_rules
from webstack_operator.api.field_types import Cidr
from webstack_operator.api.model_base import ApiModel
from webstack_operator.api.patterns import (
    ACM_CERTIFICATE_ARN_PATTERN,
    DNS_SUBDOMAIN_PATTERN,
    HOSTNAME_PATTERN,
)

INGRESS_NEEDS_HOST = "host is required when ingress is enabled"


class IngressSpec(ApiModel):
    """An Ingress: `/api` to the backend, `/` to the frontend. AWS Load Balancer Controller settings apply
    when `className` is `alb`."""

    model_config = ConfigDict(
        json_schema_extra=cel_rules(
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

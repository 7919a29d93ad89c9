"""Isolation and availability: `SecuritySpec` (NetworkPolicies, DNS pods, disruption budgets, priority)."""

from pydantic import Field

from webstack_operator.api.field_types import Labels
from webstack_operator.api.model_base import ApiModel, optional_section
from webstack_operator.api.patterns import DNS_SUBDOMAIN_PATTERN


class DnsSelector(ApiModel):
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


class SecuritySpec(ApiModel):
    """Isolation and availability."""

    network_policies: bool = Field(
        default=True,
        description="Default-deny NetworkPolicies with precise allows (see docs/architecture.md, Network "
        "connectivity). They take effect only where the CNI enforces NetworkPolicies; on EKS enable the VPC "
        'CNI\'s network policy agent (`enableNetworkPolicy: "true"`).',
    )
    dns: DnsSelector = optional_section(
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

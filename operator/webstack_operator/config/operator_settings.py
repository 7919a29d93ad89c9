"""Operator-wide settings the builders read: default images, namespaces, frontend assets, capabilities.

Validated once at start and passed down (builders never read the environment or files). The frontend's
nginx.conf template and UI assets are read once by `run_options.load_settings` (for `run` and `render` alike)
from the package data of `webstack_contract.frontend`, and carried here as text.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType


@dataclass(frozen=True)
class Capabilities:
    """Which optional APIs the cluster serves. `render` assumes all; the operator discovers them.

    Without Argo Rollouts the backend is a Deployment; without the Prometheus Operator, Velero, Sealed
    Secrets or External Secrets, their objects are skipped (and the operator says so in a condition).
    """

    argo_rollouts: bool = True
    prometheus_operator: bool = True
    velero: bool = True
    sealed_secrets: bool = True
    external_secrets: bool = True


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class OperatorSettings:
    """Everything outside a WebStack's spec that shapes its objects."""

    # `<repository>:<major>-alpine`; the alpine layout matters (uid 70, /var/run/postgresql).
    postgres_repository: str = "docker.io/library/postgres"
    redis_image: str = "docker.io/library/redis:7.4-alpine"
    velero_namespace: str = "velero"
    monitoring_namespace: str = "monitoring"
    # The cluster's DNS domain and its DNS Service: nginx asks it for the backend's full name, again every
    # few seconds (webstack_contract.frontend), so a re-created backend Service is found at its new address.
    cluster_domain: str = "cluster.local"
    cluster_dns: str = "kube-dns.kube-system.svc.cluster.local"
    # nginx.conf template with @LISTEN_PORT@, @BACKEND_URL@, @RESOLVER@, @STATIC_ROOT@, and the UI files.
    frontend_nginx_template: str = ""
    frontend_assets: Mapping[str, str] = field(default_factory=_empty)
    capabilities: Capabilities = field(default_factory=Capabilities)

    def postgres_image(self, version: str) -> str:
        """The default Postgres image for a major version."""
        return f"{self.postgres_repository}:{version}-alpine"

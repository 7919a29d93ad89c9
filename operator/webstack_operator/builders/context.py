"""What every builder receives: one frozen StackContext, and the decisions derived from it.

Derived decisions (Rollout or Deployment, ALB traffic routing, monitoring on or off) live here, once, so
the backend, ingress, monitoring and network builders cannot disagree about them.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field

from webstack_operator.api.spec import WebStackSpec, validate_name
from webstack_operator.config.operator_settings import OperatorSettings
from webstack_operator.kube.jsondata import JSON


@dataclass(frozen=True)
class OwnerRef:
    """The WebStack that owns the same-namespace children."""

    api_version: str
    kind: str
    name: str
    uid: str

    def manifest(self) -> JSON:
        """A controller owner reference: garbage collection deletes the child with its WebStack."""
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


@dataclass(frozen=True)
class StackContext:
    """One WebStack to render. `owner` is None for an offline render; `generated_password` (Postgres) and
    `generated_cache_password` (Redis) are chosen by the caller (the operator generates them; `render`
    passes placeholders) so builders stay deterministic. `pod_template_hashes` is observed by the caller
    and rendered back: Service name -> the `rollouts-pod-template-hash` Argo Rollouts put in that
    Service's selector (empty for a new stack or an offline render)."""

    spec: WebStackSpec
    name: str
    namespace: str
    settings: OperatorSettings
    owner: OwnerRef | None = None
    generated_password: str = ""
    generated_cache_password: str = ""
    pod_template_hashes: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        validate_name(self.name)

    def child(self, suffix: str) -> str:
        """The name of a child object: `<webstack>-<suffix>`."""
        return f"{self.name}-{suffix}"

    @property
    def uses_rollout(self) -> bool:
        """Canary delivery runs as an Argo Rollout, when Argo Rollouts is installed."""
        return self.spec.backend.delivery.strategy == "Canary" and self.settings.capabilities.argo_rollouts

    @property
    def monitoring_enabled(self) -> bool:
        """Prometheus Operator objects are rendered."""
        return self.spec.monitoring.enabled and self.settings.capabilities.prometheus_operator

    @property
    def analysis_enabled(self) -> bool:
        """Canary analysis needs the Rollout and the ServiceMonitor that labels canary pods' metrics."""
        return (
            self.uses_rollout and self.spec.backend.delivery.analysis is not None and self.monitoring_enabled
        )

    @property
    def ingress_is_alb(self) -> bool:
        """The Ingress is served by the AWS Load Balancer Controller."""
        return self.spec.ingress.enabled and self.spec.ingress.class_name == "alb"

    @property
    def alb_traffic_routing(self) -> bool:
        """Argo Rollouts shifts canary traffic by exact ALB weights instead of by pod counts."""
        return self.uses_rollout and self.ingress_is_alb

    @property
    def backup_enabled(self) -> bool:
        """A Velero Schedule is rendered."""
        return self.spec.backup.enabled and self.settings.capabilities.velero

    @property
    def database_managed(self) -> bool:
        """Postgres runs in the stack."""
        return self.spec.database.mode == "Managed"

    @property
    def cache_managed(self) -> bool:
        """Redis runs in the stack."""
        return self.spec.cache.mode == "Managed"

    @property
    def credentials_secret(self) -> str:
        """The Secret the pods read database credentials from, whichever way it comes to exist."""
        ref = self.spec.database.credentials.secret_ref
        return ref.name if ref is not None else self.child("postgres")

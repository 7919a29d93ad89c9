"""NetworkPolicies: deny everything to and from the stack's pods, then allow exactly the request path.

Allowed: clients (the ALB, which targets pod IPs, or anything in the cluster) to the frontend, and to the
backend when the Ingress routes `/api` to it; frontend to backend; backend to Postgres and Redis; the
migration Job to Postgres only; DNS; Prometheus in the monitoring namespace to the backend's metrics port.
The backend (and the migration Job, for an External database) may also reach any address when it talks to
something outside the cluster (External database or cache, AWS APIs via IRSA), since those addresses are
not known in advance. Postgres and Redis get no egress at all; nothing may connect to the migration Job.
"""

from webstack_operator import labels
from webstack_operator.builders.backend import HTTP_PORT
from webstack_operator.builders.common import Manifest, object_meta
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.frontend import LISTEN_PORT
from webstack_operator.builders.migrate import COMPONENT as MIGRATE
from webstack_operator.builders.postgres import POSTGRES_PORT
from webstack_operator.builders.redis import REDIS_PORT

ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]


def _pods(ctx: StackContext, component: str) -> Manifest:
    return {"podSelector": {"matchLabels": labels.selector_labels(ctx.name, component)}}


def _tcp(port: int) -> list[Manifest]:
    return [{"protocol": "TCP", "port": port}]


def _dns() -> Manifest:
    # Any destination: CoreDNS, NodeLocal DNSCache (a link-local address) or a VPC resolver.
    return {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}


def _policy(
    ctx: StackContext, suffix: str, component: str, ingress: list[Manifest], egress: list[Manifest]
) -> Manifest:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(ctx, ctx.child(suffix), labels.NETWORK),
        "spec": {
            "podSelector": {"matchLabels": labels.selector_labels(ctx.name, component)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress,
            "egress": egress,
        },
    }


def default_deny(ctx: StackContext) -> Manifest:
    """Every pod of this stack (and no one else's): no traffic unless another policy allows it."""
    selector = {labels.PART_OF: labels.PART_OF_VALUE, labels.INSTANCE: ctx.name}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(ctx, ctx.child("default-deny"), labels.NETWORK),
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress", "Egress"]},
    }


def _backend_policy(ctx: StackContext) -> Manifest:
    ingress = [{"from": [_pods(ctx, labels.FRONTEND)], "ports": _tcp(HTTP_PORT)}]
    if ctx.spec.ingress.enabled:
        ingress.append({"ports": _tcp(HTTP_PORT)})
    if ctx.monitoring_enabled:
        monitoring = {"kubernetes.io/metadata.name": ctx.settings.monitoring_namespace}
        ingress.append(
            {"from": [{"namespaceSelector": {"matchLabels": monitoring}}], "ports": _tcp(HTTP_PORT)}
        )
    egress = [_dns()]
    if ctx.database_managed:
        egress.append({"to": [_pods(ctx, labels.DATABASE)], "ports": _tcp(POSTGRES_PORT)})
    if ctx.cache_managed:
        egress.append({"to": [_pods(ctx, labels.CACHE)], "ports": _tcp(REDIS_PORT)})
    spec = ctx.spec
    if not ctx.database_managed or spec.cache.mode == "External" or spec.backend.iam_role_arn is not None:
        egress.append({"to": ANYWHERE})
    return _policy(ctx, "backend", labels.BACKEND, ingress, egress)


def _migrate_policy(ctx: StackContext) -> Manifest:
    """The migration Job talks to the database and nothing else; no one talks to it."""
    egress = [_dns()]
    if ctx.database_managed:
        egress.append({"to": [_pods(ctx, labels.DATABASE)], "ports": _tcp(POSTGRES_PORT)})
    # An External database, or AWS APIs for the backend's IAM role the pod runs as: addresses not known.
    if not ctx.database_managed or ctx.spec.backend.iam_role_arn is not None:
        egress.append({"to": ANYWHERE})
    return _policy(ctx, "migrate", MIGRATE, [], egress)


def network_policies(ctx: StackContext) -> list[Manifest]:
    """All policies, or none when the spec turns them off."""
    if not ctx.spec.security.network_policies:
        return []
    policies = [
        default_deny(ctx),
        _policy(
            ctx,
            "frontend",
            labels.FRONTEND,
            ingress=[{"ports": _tcp(LISTEN_PORT)}],
            egress=[_dns(), {"to": [_pods(ctx, labels.BACKEND)], "ports": _tcp(HTTP_PORT)}],
        ),
        _backend_policy(ctx),
        _migrate_policy(ctx),
    ]
    if ctx.database_managed:
        clients = [_pods(ctx, labels.BACKEND), _pods(ctx, MIGRATE)]
        from_backend = [{"from": clients, "ports": _tcp(POSTGRES_PORT)}]
        policies.append(_policy(ctx, "postgres", labels.DATABASE, from_backend, []))
    if ctx.cache_managed:
        from_backend = [{"from": [_pods(ctx, labels.BACKEND)], "ports": _tcp(REDIS_PORT)}]
        policies.append(_policy(ctx, "redis", labels.CACHE, from_backend, []))
    return policies

"""NetworkPolicies: allow exactly the request path, and deny everything else to and from the stack's pods.

The intended connectivity is the table in docs/architecture.md ("Network connectivity"); a test asks
cyclonus's policy engine what these policies allow and compares it with that table. In short:
- clients reach the frontend, and the backend when the Ingress routes `/api` to it, only from the Ingress
  controller's networks (`ingress.sourceCidrs`, default the private ranges: an ALB in `ip` target mode
  connects from its VPC addresses); the frontend reaches the backend;
- the backend reaches Postgres and Redis (Managed: their pods; External: their port, in `cidrs` or
  anywhere), and AWS APIs on TCP 443 when it runs with an IAM role (IRSA); the migration Job reaches the
  database only, and so do a credentials rotation's Jobs (generated credentials of a Managed database);
- every pod of the stack queries the cluster DNS pods (`security.dns`) and nothing else on port 53;
- the monitoring namespace scrapes the backend's metrics port (the only component that has one);
- Postgres and Redis have no egress; nothing may connect to the migration or rotation Jobs.
- with `backup.dump`, the dump Job reaches the database only; with `backup.drill`, the drill's restore
  client reaches the database (the app's schema version) and its scratch Postgres, in the drill's own
  namespace (builders/drill.py, whose policies admit that client alone).
"""

from webstack_operator.api.defaults import DEFAULT_POSTGRES_PORT
from webstack_operator.builders.backend import HTTP_PORT
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.credentials_rotation import COMPONENT as ROTATION
from webstack_operator.builders.drill import COMPONENT as DRILL
from webstack_operator.builders.drill import SCRATCH_COMPONENT, scratch_namespace
from webstack_operator.builders.dump import COMPONENT as DUMP
from webstack_operator.builders.frontend import LISTEN_PORT
from webstack_operator.builders.metadata import object_meta
from webstack_operator.builders.migrate import COMPONENT as MIGRATE
from webstack_operator.builders.postgres import POSTGRES_PORT
from webstack_operator.builders.redis import REDIS_PORT
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

ANY_ADDRESS = ("0.0.0.0/0", "::/0")
# Every VPC's addresses (and a cluster's nodes and pods) are private; no internet client's are.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
AWS_API_PORT = 443
DNS_PORT = 53


def _pods(ctx: StackContext, component: str) -> JSON:
    return {"podSelector": {"matchLabels": labels.selector_labels(ctx.name, component)}}


def _networks(cidrs: tuple[str, ...] | list[str]) -> list[JSON]:
    return [{"ipBlock": {"cidr": cidr}} for cidr in cidrs]


def _tcp(port: int) -> list[JSON]:
    return [{"protocol": "TCP", "port": port}]


def _dns(ctx: StackContext) -> JSON:
    """The cluster DNS pods, on UDP and TCP 53; a resolver anywhere else is not reachable."""
    dns = ctx.spec.security.dns
    peer = {
        "namespaceSelector": {"matchLabels": dict(dns.namespace_labels)},
        "podSelector": {"matchLabels": dict(dns.pod_labels)},
    }
    return {
        "to": [peer],
        "ports": [{"protocol": "UDP", "port": DNS_PORT}, {"protocol": "TCP", "port": DNS_PORT}],
    }


def _clients(ctx: StackContext) -> list[JSON]:
    """Where the Ingress controller's proxies connect from."""
    return _networks(ctx.spec.ingress.source_cidrs or PRIVATE_RANGES)


def _policy(ctx: StackContext, suffix: str, component: str, ingress: list[JSON], egress: list[JSON]) -> JSON:
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


def default_deny(ctx: StackContext) -> JSON:
    """Every pod of this stack (and no one else's): no traffic unless another policy allows it."""
    selector = {labels.PART_OF: labels.PART_OF_VALUE, labels.INSTANCE: ctx.name}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": object_meta(ctx, ctx.child("default-deny"), labels.NETWORK),
        "spec": {"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress", "Egress"]},
    }


def _database_egress(ctx: StackContext) -> JSON:
    """Postgres: its pods (Managed), or its port at its networks (External; anywhere when not given)."""
    if ctx.database_managed:
        return {"to": [_pods(ctx, labels.DATABASE)], "ports": _tcp(POSTGRES_PORT)}
    database = ctx.spec.database
    port = database.port or DEFAULT_POSTGRES_PORT
    return {"to": _networks(database.cidrs or ANY_ADDRESS), "ports": _tcp(port)}


def _cache_egress(ctx: StackContext) -> list[JSON]:
    cache = ctx.spec.cache
    if ctx.cache_managed:
        return [{"to": [_pods(ctx, labels.CACHE)], "ports": _tcp(REDIS_PORT)}]
    if cache.mode == "External":
        return [{"to": _networks(cache.cidrs or ANY_ADDRESS), "ports": _tcp(cache.external_port)}]
    return []


def _backend_policy(ctx: StackContext) -> JSON:
    ingress = [{"from": [_pods(ctx, labels.FRONTEND)], "ports": _tcp(HTTP_PORT)}]
    if ctx.spec.ingress.enabled:
        ingress.append({"from": _clients(ctx), "ports": _tcp(HTTP_PORT)})
    if ctx.monitoring_enabled:
        monitoring = {"kubernetes.io/metadata.name": ctx.settings.monitoring_namespace}
        ingress.append(
            {"from": [{"namespaceSelector": {"matchLabels": monitoring}}], "ports": _tcp(HTTP_PORT)}
        )
    egress = [_dns(ctx), _database_egress(ctx), *_cache_egress(ctx)]
    if ctx.spec.backend.iam_role_arn is not None:
        # AWS APIs (STS for IRSA, then the services the role grants): addresses not known, HTTPS only.
        egress.append({"to": _networks(ANY_ADDRESS), "ports": _tcp(AWS_API_PORT)})
    return _policy(ctx, "backend", labels.BACKEND, ingress, egress)


def _migrate_policy(ctx: StackContext) -> JSON:
    """The migration Job talks to the database and nothing else (it runs SQL, never an AWS API, even
    under the backend's IAM role); no one talks to it."""
    return _policy(ctx, "migrate", MIGRATE, [], [_dns(ctx), _database_egress(ctx)])


def _backup_policies(ctx: StackContext) -> list[JSON]:
    """The dump Job and the drill's restore client: the database (and the drill's scratch Postgres)."""
    backup = ctx.spec.backup
    if not backup.enabled or backup.dump is None:
        return []
    policies = [_policy(ctx, "dump", DUMP, [], [_dns(ctx), _database_egress(ctx)])]
    if backup.drill.enabled:
        scratch = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": scratch_namespace(ctx)}},
            "podSelector": {"matchLabels": labels.selector_labels(ctx.name, SCRATCH_COMPONENT)},
        }
        egress = [_dns(ctx), _database_egress(ctx), {"to": [scratch], "ports": _tcp(POSTGRES_PORT)}]
        policies.append(_policy(ctx, "drill", DRILL, [], egress))
    return policies


def _rotation_policy(ctx: StackContext) -> JSON:
    """The credentials rotation's Jobs, like the migration's: the database and nothing else."""
    return _policy(ctx, "credentials", ROTATION, [], [_dns(ctx), _database_egress(ctx)])


def _database_clients(ctx: StackContext, rotated: bool) -> list[JSON]:
    """Who connects to Managed Postgres: the backend, its migration, a rotation's Jobs, and the backup's
    dump and drill."""
    backup, clients = ctx.spec.backup, [labels.BACKEND, MIGRATE]
    clients += [ROTATION] if rotated else []
    if backup.enabled and backup.dump is not None:
        clients += [DUMP, DRILL] if backup.drill.enabled else [DUMP]
    return [_pods(ctx, component) for component in clients]


def network_policies(ctx: StackContext) -> list[JSON]:
    """All policies, or none when the spec turns them off."""
    if not ctx.spec.security.network_policies:
        return []
    policies = [
        _policy(
            ctx,
            "frontend",
            labels.FRONTEND,
            ingress=[{"from": _clients(ctx), "ports": _tcp(LISTEN_PORT)}],
            egress=[_dns(ctx), {"to": [_pods(ctx, labels.BACKEND)], "ports": _tcp(HTTP_PORT)}],
        ),
        _backend_policy(ctx),
        _migrate_policy(ctx),
        *_backup_policies(ctx),
    ]
    rotated = ctx.database_managed and ctx.spec.database.credentials.generated  # its Jobs run only then
    if rotated:
        policies.append(_rotation_policy(ctx))
    if ctx.database_managed:
        from_backend = [{"from": _database_clients(ctx, rotated), "ports": _tcp(POSTGRES_PORT)}]
        policies.append(_policy(ctx, "postgres", labels.DATABASE, from_backend, []))
    if ctx.cache_managed:
        from_backend = [{"from": [_pods(ctx, labels.BACKEND)], "ports": _tcp(REDIS_PORT)}]
        policies.append(_policy(ctx, "redis", labels.CACHE, from_backend, []))
    # The default deny last. The operator applies one object at a time, and pods may already run (the
    # policies turned on, or deleted and re-created): each component's policy isolates its pods and
    # allows their rows in one object, while the deny alone isolates every pod of the stack and allows
    # nothing. Applied first, it refused the backend's connections to Postgres on the real node until the
    # allows followed (tests/integration/realnode/test_connectivity_probes.py); applied last, every
    # prefix of this list only narrows what already passes.
    return [*policies, default_deny(ctx)]

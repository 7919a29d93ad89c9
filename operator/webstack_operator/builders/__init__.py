"""Pure builders: one WebStack (as a StackContext) in, every Kubernetes object of its stack out, the same
objects in the same order for the same context (no I/O, no clock, no random number, no global), so what
`webstack-operator render` prints offline is what the operator applies; they stand on `objects`, `config`,
`api` and `telemetry`'s names, never on a client or kopf.
"""

from webstack_operator.builders import (
    backend,
    backup,
    frontend,
    identity,
    ingress,
    migrate,
    monitoring,
    network,
    postgres,
    redis,
    secrets,
)
from webstack_operator.builders.common import Manifest
from webstack_operator.builders.context import OwnerRef, StackContext
from webstack_operator.objects.kinds import CHILD_KINDS, apply_rank

__all__ = ["APPLY_ORDER", "Manifest", "OwnerRef", "StackContext", "desired_objects"]

# The apply order is the order of the kinds table (kinds.py says why it is that order).
APPLY_ORDER = tuple(k.kind for k in CHILD_KINDS if k.rendered)


def desired_objects(ctx: StackContext) -> list[Manifest]:
    """Every object of the stack, in apply order."""
    objects = [
        *identity.service_accounts(ctx),
        *secrets.credentials(ctx),
        *network.network_policies(ctx),
        *postgres.postgres_objects(ctx),
        *redis.redis_objects(ctx),
        *migrate.migration_objects(ctx),
        *backend.backend_objects(ctx),
        *frontend.frontend_objects(ctx),
        *ingress.ingress_objects(ctx),
        *monitoring.monitoring_objects(ctx),
        *backup.backup_objects(ctx),
    ]
    # A stable sort: kinds in apply order, and within a kind the order the builders chose.
    return sorted(objects, key=lambda obj: apply_rank(obj["kind"]))

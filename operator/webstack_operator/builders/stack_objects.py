"""The stack's objects: `desired_objects`, every builder's output in apply order, and that order.

One entry point for both the operator (which applies the list) and `webstack-operator render` (which prints
it), so what a reviewer sees offline is what gets applied.
"""

from webstack_operator.builders import (
    backend,
    backup,
    dump,
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
from webstack_operator.builders.context import StackContext
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects.kinds import CHILD_KINDS, apply_rank

# The apply order is the order of the kinds table (kinds.py says why it is that order).
APPLY_ORDER = tuple(k.kind for k in CHILD_KINDS if k.rendered)


def desired_objects(ctx: StackContext) -> list[JSON]:
    """Every object of the stack, in apply order."""
    objects = [
        *identity.service_accounts(ctx),
        *secrets.credentials(ctx),
        *network.network_policies(ctx),
        *postgres.postgres_objects(ctx),
        *redis.redis_objects(ctx),
        *migrate.migration_objects(ctx),
        *dump.dump_objects(ctx),
        *backend.backend_objects(ctx),
        *frontend.frontend_objects(ctx),
        *ingress.ingress_objects(ctx),
        *monitoring.monitoring_objects(ctx),
        *backup.backup_objects(ctx),
    ]
    # A stable sort: kinds in apply order, and within a kind the order the builders chose.
    return sorted(objects, key=lambda obj: apply_rank(obj["kind"]))

"""ServiceAccounts: one per workload, none with an API token, the backend's bound to an IAM role (IRSA).

A workload of its own gets its own identity, so a RoleBinding or an IAM trust policy granted to one
component never reaches another (and no pod runs as the namespace's `default` account).
"""

from webstack_operator.builders.context import StackContext
from webstack_operator.builders.metadata import object_meta
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"


def _service_account(ctx: StackContext, component: str, suffix: str, annotations: dict[str, str]) -> JSON:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(ctx, ctx.child(suffix), component, annotations=annotations),
        "automountServiceAccountToken": False,
    }


def service_account_name(ctx: StackContext, component: str) -> str:
    """The ServiceAccount a component's pods run as."""
    return ctx.child(_SUFFIX[component])


_SUFFIX = {
    labels.BACKEND: "backend",
    labels.FRONTEND: "frontend",
    labels.DATABASE: "postgres",
    labels.CACHE: "redis",
}


def service_accounts(ctx: StackContext) -> list[JSON]:
    """ServiceAccounts of the workloads this stack runs."""
    role = ctx.spec.backend.iam_role_arn
    accounts = [
        _service_account(ctx, labels.BACKEND, "backend", {IRSA_ANNOTATION: role} if role else {}),
        _service_account(ctx, labels.FRONTEND, "frontend", {}),
    ]
    if ctx.database_managed:
        accounts.append(_service_account(ctx, labels.DATABASE, "postgres", {}))
    if ctx.cache_managed:
        accounts.append(_service_account(ctx, labels.CACHE, "redis", {}))
    return accounts

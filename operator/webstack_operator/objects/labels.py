"""The labels every object of a stack carries, and the narrower set its selectors use.

Selectors are immutable on Deployments and StatefulSets, so they use only labels that never change for a
component: instance, component and part-of. `name` says which software runs (useful for generic
dashboards), and may change without breaking a selector.
"""

NAME = "app.kubernetes.io/name"
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "app.kubernetes.io/managed-by"
STACK_NAMESPACE = "webstack.dev/stack-namespace"
STACK_UID = (
    "webstack.dev/stack-uid"  # on objects outside the stack's namespace: which WebStack, not just its name
)
ORPHANED_FROM = "webstack.dev/orphaned-from"  # annotation: the UID of the WebStack that let the object go

PART_OF_VALUE = "webstack"
MANAGED_BY_VALUE = "webstack-operator"

# Components, as written in `app.kubernetes.io/component`.
BACKEND = "backend"
FRONTEND = "frontend"
DATABASE = "database"
CACHE = "cache"
INGRESS = "ingress"
NETWORK = "network"
MONITORING = "monitoring"
BACKUP = "backup"

# The software each component runs; the stack-wide objects are the WebStack's own.
_SOFTWARE = {BACKEND: "users-api", FRONTEND: "nginx", DATABASE: "postgresql", CACHE: "redis"}


def selector_labels(instance: str, component: str) -> dict[str, str]:
    """The immutable labels a workload's selector (and a Service's) matches on."""
    return {PART_OF: PART_OF_VALUE, INSTANCE: instance, COMPONENT: component}


def standard_labels(instance: str, component: str) -> dict[str, str]:
    """Every label an object of the stack carries."""
    return {
        NAME: _SOFTWARE.get(component, PART_OF_VALUE),
        INSTANCE: instance,
        COMPONENT: component,
        PART_OF: PART_OF_VALUE,
        MANAGED_BY: MANAGED_BY_VALUE,
    }


def stack_labels(instance: str) -> dict[str, str]:
    """Labels that select every object of one stack, whatever its component (pruning, Velero)."""
    return {PART_OF: PART_OF_VALUE, INSTANCE: instance, MANAGED_BY: MANAGED_BY_VALUE}


def cross_namespace_labels(
    instance: str, namespace: str, component: str, uid: str | None = None
) -> dict[str, str]:
    """Labels of an object outside the stack's namespace: no owner reference can point back, so these do.
    The stack's UID tells this WebStack's object from one left by an earlier WebStack of the same name."""
    found = {**standard_labels(instance, component), STACK_NAMESPACE: namespace}
    return {**found, STACK_UID: uid} if uid else found


def managed_instance_selector(instance: str) -> str:
    """A label selector for the objects this operator manages under one stack's name, in the namespace
    listed (what a plan compares against: children and objects left by an earlier stack of that name)."""
    return f"{INSTANCE}={instance},{MANAGED_BY}={MANAGED_BY_VALUE}"


def cross_namespace_selector(namespace: str, instance: str, uid: str | None = None) -> str:
    """A label selector for one stack's objects outside its namespace; with `uid`, only that WebStack's
    (what a person may delete by hand: the labels alone are anyone's to write)."""
    wanted = {INSTANCE: instance, STACK_NAMESPACE: namespace, MANAGED_BY: MANAGED_BY_VALUE}
    if uid:
        wanted[STACK_UID] = uid
    return ",".join(f"{k}={v}" for k, v in wanted.items())

"""A container's resources block, with quantities in the form the apiserver echoes back."""

from webstack_operator.api.compute_resources import Resources
from webstack_operator.kube.jsondata import JSON


def quantity(value: int | str) -> str:
    """Quantities always leave as strings, the form the apiserver echoes back (no spurious SSA diffs)."""
    return str(value)


def resources(spec: Resources) -> JSON:
    """A container's resources block from the spec model."""
    limits = {"memory": quantity(spec.limits.memory)}
    if spec.limits.cpu is not None:
        limits = {"cpu": quantity(spec.limits.cpu), **limits}
    return {
        "requests": {"cpu": quantity(spec.requests.cpu), "memory": quantity(spec.requests.memory)},
        "limits": limits,
    }

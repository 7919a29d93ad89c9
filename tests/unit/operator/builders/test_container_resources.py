"""A container's resources block."""

from __future__ import annotations

from webstack_operator.api.compute_resources import LimitList, ResourceList, Resources
from webstack_operator.builders.container_resources import resources


def test_resources_are_strings_and_cpu_limit_optional() -> None:
    spec = Resources(requests=ResourceList(cpu=1, memory="1Gi"), limits=LimitList(memory=2147483648))
    assert resources(spec) == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2147483648"}}

"""A Service selecting one component's pods."""

from collections.abc import Mapping

from webstack_operator.builders.context import StackContext
from webstack_operator.builders.metadata import object_meta
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels


def service(
    ctx: StackContext,
    name: str,
    component: str,
    ports: list[JSON],
    *,
    headless: bool = False,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    extra_selector: Mapping[str, str] | None = None,
) -> JSON:
    """A Service selecting one component's pods (narrowed by `extra_selector`)."""
    spec: JSON = {"type": "ClusterIP"}
    if headless:
        spec["clusterIP"] = "None"
    spec["selector"] = {**labels.selector_labels(ctx.name, component), **(extra_selector or {})}
    spec["ports"] = ports
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": object_meta(ctx, name, component, extra_labels=extra_labels, annotations=annotations),
        "spec": spec,
    }

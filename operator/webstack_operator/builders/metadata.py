"""A child's metadata: its labels and owner reference, and a name bounded to what the apiserver takes."""

from collections.abc import Mapping

from webstack_operator.builders.checksums import short_hash
from webstack_operator.builders.context import StackContext
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels


def object_meta(
    ctx: StackContext,
    name: str,
    component: str,
    *,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    owned: bool = True,
) -> JSON:
    """Metadata of a same-namespace child: standard labels, and a controller owner reference unless the
    object must outlive its WebStack (`owned=False`)."""
    meta: JSON = {
        "name": name,
        "namespace": ctx.namespace,
        "labels": {**labels.standard_labels(ctx.name, component), **(extra_labels or {})},
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    if owned and ctx.owner is not None:
        meta["ownerReferences"] = [ctx.owner.manifest()]
    return meta


def bounded_name(base: str, limit: int) -> str:
    """`base` if it fits, else a truncated prefix plus a hash of the whole (still unique, still readable)."""
    if len(base) <= limit:
        return base
    suffix = short_hash(base)
    return base[: limit - len(suffix) - 1].rstrip("-.") + "-" + suffix

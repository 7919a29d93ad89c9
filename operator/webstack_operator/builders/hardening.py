"""The hardened pod: non-root security contexts, no API token, bounded scratch volumes."""

from collections.abc import Mapping
from typing import Any

from webstack_operator.builders.context import StackContext
from webstack_operator.kube.jsondata import JSON

TMP_VOLUME = "tmp"


def pod_security_context(uid: int, gid: int) -> JSON:
    """Non-root with numeric ids (so the kubelet can verify runAsNonRoot without reading the image)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> JSON:
    """The restricted Pod Security Standard, plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def empty_dir(name: str, size_limit: str, *, memory: bool = False) -> JSON:
    """A scratch volume; bounded, so a runaway writer is evicted instead of filling the node's disk."""
    spec: JSON = {"sizeLimit": size_limit}
    if memory:
        spec = {"medium": "Memory", **spec}
    return {"name": name, "emptyDir": spec}


def pod_spec(
    ctx: StackContext,
    *,
    service_account: str,
    uid: int,
    gid: int,
    containers: list[JSON],
    volumes: list[JSON],
    termination_grace_period_seconds: int = 30,
    extra: Mapping[str, Any] | None = None,
) -> JSON:
    """A hardened pod spec: own ServiceAccount with no API token, non-root, no service-link env noise."""
    spec: JSON = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(uid, gid),
        "terminationGracePeriodSeconds": termination_grace_period_seconds,
    }
    if ctx.spec.security.priority_class_name is not None:
        spec["priorityClassName"] = ctx.spec.security.priority_class_name
    if ctx.spec.image_pull_secrets:
        spec["imagePullSecrets"] = [{"name": ref.name} for ref in ctx.spec.image_pull_secrets]
    spec.update(extra or {})
    spec["containers"] = containers
    spec["volumes"] = volumes
    return spec

"""Pieces every builder shares: metadata, hardened security contexts, resources, probes, checksums."""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from webstack_operator.api.compute_resources import Resources
from webstack_operator.builders.context import StackContext
from webstack_operator.objects import labels

Manifest = dict[str, Any]

TMP_VOLUME = "tmp"
CONFIG_CHECKSUM_ANNOTATION = "webstack.dev/config-checksum"


def object_meta(
    ctx: StackContext,
    name: str,
    component: str,
    *,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    owned: bool = True,
) -> Manifest:
    """Metadata of a same-namespace child: standard labels, and a controller owner reference unless the
    object must outlive its WebStack (`owned=False`)."""
    meta: Manifest = {
        "name": name,
        "namespace": ctx.namespace,
        "labels": {**labels.standard_labels(ctx.name, component), **(extra_labels or {})},
    }
    if annotations:
        meta["annotations"] = dict(annotations)
    if owned and ctx.owner is not None:
        meta["ownerReferences"] = [ctx.owner.manifest()]
    return meta


def quantity(value: int | str) -> str:
    """Quantities always leave as strings, the form the apiserver echoes back (no spurious SSA diffs)."""
    return str(value)


def resources(spec: Resources) -> Manifest:
    """A container's resources block from the spec model."""
    limits = {"memory": quantity(spec.limits.memory)}
    if spec.limits.cpu is not None:
        limits = {"cpu": quantity(spec.limits.cpu), **limits}
    return {
        "requests": {"cpu": quantity(spec.requests.cpu), "memory": quantity(spec.requests.memory)},
        "limits": limits,
    }


def pod_security_context(uid: int, gid: int) -> Manifest:
    """Non-root with numeric ids (so the kubelet can verify runAsNonRoot without reading the image)."""
    return {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> Manifest:
    """The restricted Pod Security Standard, plus a read-only root filesystem."""
    return {
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def empty_dir(name: str, size_limit: str, *, memory: bool = False) -> Manifest:
    """A scratch volume; bounded, so a runaway writer is evicted instead of filling the node's disk."""
    spec: Manifest = {"sizeLimit": size_limit}
    if memory:
        spec = {"medium": "Memory", **spec}
    return {"name": name, "emptyDir": spec}


def pod_spec(
    ctx: StackContext,
    *,
    service_account: str,
    uid: int,
    gid: int,
    containers: list[Manifest],
    volumes: list[Manifest],
    termination_grace_period_seconds: int = 30,
    extra: Mapping[str, Any] | None = None,
) -> Manifest:
    """A hardened pod spec: own ServiceAccount with no API token, non-root, no service-link env noise."""
    spec: Manifest = {
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


def topology_spread(ctx: StackContext, component: str) -> list[Manifest]:
    """Spread replicas over zones and nodes when possible, without blocking scheduling when not."""
    selector = {"matchLabels": labels.selector_labels(ctx.name, component)}
    return [
        {
            "maxSkew": 1,
            "topologyKey": key,
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": selector,
        }
        for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
    ]


def http_probe(
    path: str, *, period: int, timeout: int = 2, failures: int = 3, port: str = "http"
) -> Manifest:
    """An HTTP GET probe on a named port."""
    return {
        "httpGet": {"path": path, "port": port},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def exec_probe(command: list[str], *, period: int, timeout: int = 5, failures: int = 3) -> Manifest:
    """A probe that runs a command in the container."""
    return {
        "exec": {"command": command},
        "periodSeconds": period,
        "timeoutSeconds": timeout,
        "failureThreshold": failures,
    }


def checksum(data: Mapping[str, Any]) -> str:
    """A stable digest of configuration, put on a pod template so a change rolls the pods."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def short_hash(text: str, length: int = 8) -> str:
    """A short, stable hash for names that must be unique but bounded."""
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def bounded_name(base: str, limit: int) -> str:
    """`base` if it fits, else a truncated prefix plus a hash of the whole (still unique, still readable)."""
    if len(base) <= limit:
        return base
    suffix = short_hash(base)
    return base[: limit - len(suffix) - 1].rstrip("-.") + "-" + suffix


def pod_disruption_budget(ctx: StackContext, name: str, component: str) -> Manifest:
    """At most one pod down by voluntary disruption; never blocks a drain (maxUnavailable, not
    minAvailable, and unhealthy pods may always be evicted)."""
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": object_meta(ctx, name, component),
        "spec": {
            "maxUnavailable": 1,
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
            "selector": {"matchLabels": labels.selector_labels(ctx.name, component)},
        },
    }


def service(
    ctx: StackContext,
    name: str,
    component: str,
    ports: list[Manifest],
    *,
    headless: bool = False,
    extra_labels: Mapping[str, str] | None = None,
    annotations: Mapping[str, str] | None = None,
    extra_selector: Mapping[str, str] | None = None,
) -> Manifest:
    """A Service selecting one component's pods (narrowed by `extra_selector`)."""
    spec: Manifest = {"type": "ClusterIP"}
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

"""Managed Redis: a cache, so a Deployment without persistence, evicting LRU at `maxmemory`.

The memory limit is derived from `maxmemory` when the spec gives no resources (1.25 x + 32Mi, request =
limit): Redis then evicts keys before the kernel kills it, and a cache that is OOM-killed loses all its keys
at once. Redis listens without a password; the NetworkPolicy admits only the backend's pods.
"""

import math

from webstack_operator import labels
from webstack_operator.builders.common import (
    TMP_VOLUME,
    Manifest,
    container_security_context,
    empty_dir,
    exec_probe,
    object_meta,
    pod_spec,
    resources,
    service,
)
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.identity import service_account_name

REDIS_UID = 999  # the `redis` user of the official alpine image
REDIS_GID = 1000
REDIS_PORT = 6379
CONTAINER = "redis"


def redis_name(ctx: StackContext) -> str:
    """Name of the Deployment and of the Service the backend connects to."""
    return ctx.child("redis")


def max_memory_mib(max_memory: str) -> int:
    """Redis `maxmemory` (`256mb`, `1gb`; Redis reads mb and gb as powers of 1024) in MiB."""
    number, unit = int(max_memory[:-2]), max_memory[-2:]
    return number * 1024 if unit == "gb" else number


def redis_resources(ctx: StackContext) -> Manifest:
    """The spec's resources, or a guaranteed-memory default sized from `maxmemory`."""
    cache = ctx.spec.cache
    if cache.resources is not None:
        return resources(cache.resources)
    memory = f"{math.ceil(max_memory_mib(cache.max_memory) * 1.25) + 32}Mi"
    return {"requests": {"cpu": "50m", "memory": memory}, "limits": {"memory": memory}}


def redis_service(ctx: StackContext) -> Manifest:
    """The Service behind `REDIS_URL`."""
    ports = [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}]
    return service(ctx, redis_name(ctx), labels.CACHE, ports)


def redis_deployment(ctx: StackContext) -> Manifest:
    """The cache."""
    cache = ctx.spec.cache
    selector = labels.selector_labels(ctx.name, labels.CACHE)
    container = {
        "name": CONTAINER,
        "image": cache.image or ctx.settings.redis_image,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            "redis-server",
            "--port",
            str(REDIS_PORT),
            "--maxmemory",
            cache.max_memory,
            "--maxmemory-policy",
            "allkeys-lru",
            "--save",
            "",
            "--appendonly",
            "no",
            "--protected-mode",
            "no",
        ],
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": redis_resources(ctx),
        "securityContext": container_security_context(),
        "livenessProbe": {
            "tcpSocket": {"port": "redis"},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "readinessProbe": exec_probe(
            ["redis-cli", "-h", "127.0.0.1", "-p", str(REDIS_PORT), "ping"], period=5
        ),
        "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": TMP_VOLUME, "mountPath": "/tmp"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(ctx, redis_name(ctx), labels.CACHE),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": selector},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}},
            "template": {
                "metadata": {"labels": labels.standard_labels(ctx.name, labels.CACHE)},
                "spec": pod_spec(
                    ctx,
                    service_account=service_account_name(ctx, labels.CACHE),
                    uid=REDIS_UID,
                    gid=REDIS_GID,
                    containers=[container],
                    volumes=[empty_dir("data", "64Mi"), empty_dir(TMP_VOLUME, "16Mi")],
                ),
            },
        },
    }


def redis_objects(ctx: StackContext) -> list[Manifest]:
    """Everything Managed Redis needs (nothing for External or Disabled)."""
    if not ctx.cache_managed:
        return []
    return [redis_service(ctx), redis_deployment(ctx)]

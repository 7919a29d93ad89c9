"""Managed Redis: a cache, so a Deployment without persistence, evicting LRU at `maxmemory`.

The memory limit is derived from `maxmemory` when the spec gives no resources (1.25 x + 32Mi, request =
limit): Redis then evicts keys before the kernel kills it, and a cache that is OOM-killed loses all its keys
at once.

Redis requires a password (`requirepass`), generated once into the Secret `<name>-redis` under the apply
layer's create-only rules, and protected mode stays on. The password reaches Redis as a config file mounted
from that Secret (`redis-server <file> --option ...`), never on the command line or as a literal in the pod
spec: argv is world-readable in /proc and shown by `ps`, a pod spec by anyone who may `get` pods. The
readiness probe reads the same file (`REDISCLI_AUTH` set inside the probe's shell only). The harness
(tools/python/localservices/redis.py) starts its redis-server from these same functions.
"""

import base64
import math
import re

from webstack_operator.builders.container_resources import resources
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.hardening import TMP_VOLUME, container_security_context, empty_dir, pod_spec
from webstack_operator.builders.identity import service_account_name
from webstack_operator.builders.metadata import object_meta
from webstack_operator.builders.placement import scheduling
from webstack_operator.builders.probes import exec_probe
from webstack_operator.builders.secrets import APPLY_POLICY_ANNOTATION, CREATE_ONLY, GENERATED_ANNOTATION
from webstack_operator.builders.services import service
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

REDIS_UID = 999  # the `redis` user of the official alpine image
REDIS_GID = 1000
REDIS_PORT = 6379
CONTAINER = "redis"
PASSWORD_KEY = "password"  # the Secret key the backend reads (REDIS_PASSWORD)
CONFIG_KEY = "redis.conf"  # the Secret key Redis reads: `requirepass <password>`
AUTH_VOLUME = "auth"
AUTH_MOUNT = "/etc/redis/auth"
CONFIG_PATH = f"{AUTH_MOUNT}/{CONFIG_KEY}"
# Only characters Redis's config parser takes unquoted (secrets.token_urlsafe produces a subset).
_PASSWORD_PATTERN = re.compile(r"^[A-Za-z0-9_.~+/=-]{16,512}$")
_PING = (
    f'REDISCLI_AUTH="$(cat {AUTH_MOUNT}/{PASSWORD_KEY})" '
    f"redis-cli -h 127.0.0.1 -p {REDIS_PORT} ping | grep -qx PONG"
)


def redis_name(ctx: StackContext) -> str:
    """Name of the Deployment and of the Service the backend connects to."""
    return ctx.child("redis")


def max_memory_mib(max_memory: str) -> int:
    """Redis `maxmemory` (`256mb`, `1gb`; Redis reads mb and gb as powers of 1024) in MiB."""
    number, unit = int(max_memory[:-2]), max_memory[-2:]
    return number * 1024 if unit == "gb" else number


def cache_secret_name(ctx: StackContext) -> str:
    """The generated Secret with the Redis password (a sibling of the database credentials Secret)."""
    return ctx.child("redis")


def redis_auth_config(password: str) -> str:
    """The config file Redis reads its password from."""
    if not _PASSWORD_PATTERN.fullmatch(password):
        raise ValueError("the Redis password must be 16-512 characters of [A-Za-z0-9_.~+/=-]")
    return f"requirepass {password}\n"


def redis_server_args(
    max_memory: str, *, config_path: str = CONFIG_PATH, port: int = REDIS_PORT
) -> list[str]:
    """The command line: the auth config file first, then the settings anyone may read."""
    return [
        "redis-server",
        config_path,
        "--port",
        str(port),
        "--maxmemory",
        max_memory,
        "--maxmemory-policy",
        "allkeys-lru",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "yes",
    ]


def cache_secret(ctx: StackContext) -> JSON:
    """The generated Redis password, created once and never overwritten by a reconcile (the same rules as
    the database's Secret); replaced only by `webstack.dev/regenerate-credentials`. Owned by the WebStack
    whatever the deletion policy: it guards a cache, no data outlives the stack with it."""
    password = ctx.generated_cache_password
    if not password:
        raise ValueError(
            "generated_cache_password is empty: the caller must supply the generated Redis password"
        )
    data = {PASSWORD_KEY: password, CONFIG_KEY: redis_auth_config(password)}
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": object_meta(
            ctx,
            cache_secret_name(ctx),
            labels.CACHE,
            annotations={APPLY_POLICY_ANNOTATION: CREATE_ONLY, GENERATED_ANNOTATION: "true"},
        ),
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
    }


def redis_resources(ctx: StackContext) -> JSON:
    """The spec's resources, or a guaranteed-memory default sized from `maxmemory`."""
    cache = ctx.spec.cache
    if cache.resources is not None:
        return resources(cache.resources)
    memory = f"{math.ceil(max_memory_mib(cache.max_memory) * 1.25) + 32}Mi"
    return {"requests": {"cpu": "50m", "memory": memory}, "limits": {"memory": memory}}


def redis_service(ctx: StackContext) -> JSON:
    """The Service behind `REDIS_URL`."""
    ports = [{"name": "redis", "port": REDIS_PORT, "targetPort": "redis", "protocol": "TCP"}]
    return service(ctx, redis_name(ctx), labels.CACHE, ports)


def redis_deployment(ctx: StackContext) -> JSON:
    """The cache."""
    cache = ctx.spec.cache
    selector = labels.selector_labels(ctx.name, labels.CACHE)
    container = {
        "name": CONTAINER,
        "image": cache.image or ctx.settings.redis_image,
        "imagePullPolicy": "IfNotPresent",
        "args": redis_server_args(cache.max_memory),
        "ports": [{"name": "redis", "containerPort": REDIS_PORT, "protocol": "TCP"}],
        "resources": redis_resources(ctx),
        "securityContext": container_security_context(),
        "livenessProbe": {
            "tcpSocket": {"port": "redis"},
            "periodSeconds": 10,
            "timeoutSeconds": 2,
            "failureThreshold": 3,
        },
        "readinessProbe": exec_probe(["/bin/sh", "-c", _PING], period=5),
        "volumeMounts": [
            {"name": "data", "mountPath": "/data"},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
            {"name": AUTH_VOLUME, "mountPath": AUTH_MOUNT, "readOnly": True},
        ],
    }
    # Whole keys as files, readable by the pod's group only; Redis reads them once, at start (a new
    # password restarts the pod: reconcile/credentials_keeper.py).
    auth_volume = {
        "name": AUTH_VOLUME,
        "secret": {
            "secretName": cache_secret_name(ctx),
            "items": [{"key": CONFIG_KEY, "path": CONFIG_KEY}, {"key": PASSWORD_KEY, "path": PASSWORD_KEY}],
            "defaultMode": 0o440,
        },
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
                    volumes=[empty_dir("data", "64Mi"), empty_dir(TMP_VOLUME, "16Mi"), auth_volume],
                    extra=scheduling(ctx, labels.CACHE, ctx.spec.cache.placement),
                ),
            },
        },
    }


def redis_objects(ctx: StackContext) -> list[JSON]:
    """Everything Managed Redis needs (nothing for External or Disabled)."""
    if not ctx.cache_managed:
        return []
    return [cache_secret(ctx), redis_service(ctx), redis_deployment(ctx)]

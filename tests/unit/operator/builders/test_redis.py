"""Managed Redis: LRU cache without persistence, memory sized from maxmemory."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import pytest
from tests.support.rendered_stacks import CACHE_PASSWORD, OWNER, make_stack

from webstack_operator.builders.redis import (
    CONFIG_PATH,
    max_memory_mib,
    redis_auth_config,
    redis_objects,
    redis_resources,
)
from webstack_operator.builders.secrets import APPLY_POLICY_ANNOTATION, CREATE_ONLY, GENERATED_ANNOTATION


def test_secret_service_and_deployment() -> None:
    secret, service, deployment = redis_objects(make_stack())
    assert secret["metadata"]["name"] == service["metadata"]["name"] == deployment["metadata"]["name"]
    assert service["metadata"]["name"] == "shop-redis"
    assert service["spec"]["ports"][0]["port"] == 6379
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory") + 1] == "256mb"
    assert args[args.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert args[args.index("--save") + 1] == ""
    assert args[args.index("--appendonly") + 1] == "no"
    assert args[args.index("--protected-mode") + 1] == "yes"


def test_generated_password_secret_is_create_only_and_follows_the_stack() -> None:
    secret = redis_objects(make_stack(database={"deletionPolicy": "Retain"}))[0]
    meta = secret["metadata"]
    assert meta["annotations"] == {APPLY_POLICY_ANNOTATION: CREATE_ONLY, GENERATED_ANNOTATION: "true"}
    assert meta["labels"]["app.kubernetes.io/component"] == "cache"
    # A cache password protects no data: it goes with the WebStack even when the database is retained.
    assert [ref["uid"] for ref in meta["ownerReferences"]] == [OWNER.uid]
    data = {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}
    assert data == {"password": CACHE_PASSWORD, "redis.conf": f"requirepass {CACHE_PASSWORD}\n"}


def test_redis_reads_its_password_from_the_secret_never_from_argv_or_a_literal() -> None:
    deployment = redis_objects(make_stack())[2]
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["args"][:2] == ["redis-server", CONFIG_PATH]
    assert CACHE_PASSWORD not in json.dumps(deployment)
    assert "requirepass" not in json.dumps(container["args"])
    assert "env" not in container  # not even a secretKeyRef: the server's environment stays clean
    auth = next(v for v in pod["volumes"] if v["name"] == "auth")
    assert auth["secret"]["secretName"] == "shop-redis"
    assert auth["secret"]["defaultMode"] == 0o440
    assert {"name": "auth", "mountPath": "/etc/redis/auth", "readOnly": True} in container["volumeMounts"]
    probe = container["readinessProbe"]["exec"]["command"]
    assert probe[:2] == ["/bin/sh", "-c"]
    assert "REDISCLI_AUTH" in probe[2] and "/etc/redis/auth/password" in probe[2]


def test_redis_secret_needs_the_generated_password() -> None:
    with pytest.raises(ValueError, match="generated_cache_password"):
        redis_objects(replace(make_stack(), generated_cache_password=""))


@pytest.mark.parametrize("bad", ["short", "with space in it 0123", 'quote"d-0123456789ab', "a" * 513])
def test_auth_config_refuses_passwords_redis_would_misparse(bad: str) -> None:
    with pytest.raises(ValueError, match="Redis password"):
        redis_auth_config(bad)


@pytest.mark.parametrize(("text", "mib"), [("256mb", 256), ("1gb", 1024), ("64mb", 64)])
def test_max_memory(text: str, mib: int) -> None:
    assert max_memory_mib(text) == mib


def test_default_resources_leave_room_above_maxmemory() -> None:
    res = redis_resources(make_stack(cache={"maxMemory": "256mb"}))
    assert res == {"requests": {"cpu": "50m", "memory": "352Mi"}, "limits": {"memory": "352Mi"}}


def test_explicit_resources_win() -> None:
    explicit = {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "1Gi"}}
    assert redis_resources(make_stack(cache={"resources": explicit})) == explicit


@pytest.mark.parametrize("mode", ["Disabled", "External"])
def test_no_redis_unless_managed(mode: str) -> None:
    extra = {"url": "redis://cache.example.com:6379/0"} if mode == "External" else {}
    assert redis_objects(make_stack(cache={"mode": mode, **extra})) == []

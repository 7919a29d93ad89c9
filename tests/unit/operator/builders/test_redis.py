"""Managed Redis: LRU cache without persistence, memory sized from maxmemory."""

from __future__ import annotations

import pytest
from tests.unit.operator.builders.stacks import make_stack

from webstack_operator.builders.redis import max_memory_mib, redis_objects, redis_resources


def test_service_and_deployment() -> None:
    service, deployment = redis_objects(make_stack())
    assert service["metadata"]["name"] == deployment["metadata"]["name"] == "shop-redis"
    assert service["spec"]["ports"][0]["port"] == 6379
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args[args.index("--maxmemory") + 1] == "256mb"
    assert args[args.index("--maxmemory-policy") + 1] == "allkeys-lru"
    assert args[args.index("--save") + 1] == ""
    assert args[args.index("--appendonly") + 1] == "no"


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

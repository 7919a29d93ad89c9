"""Shared builder pieces: metadata, security contexts, resources, names, checksums."""

from __future__ import annotations

from tests.support.rendered_stacks import OWNER, make_stack

from webstack_operator.api.compute_resources import LimitList, ResourceList, Resources
from webstack_operator.builders.common import (
    bounded_name,
    checksum,
    container_security_context,
    object_meta,
    pod_security_context,
    resources,
)


def test_object_meta_owner_and_labels() -> None:
    meta = object_meta(make_stack(), "shop-x", "backend", extra_labels={"x": "y"}, annotations={"a": "b"})
    assert meta["namespace"] == "team-a"
    assert meta["labels"]["app.kubernetes.io/component"] == "backend"
    assert meta["labels"]["x"] == "y"
    assert meta["annotations"] == {"a": "b"}
    assert meta["ownerReferences"] == [
        {
            "apiVersion": OWNER.api_version,
            "kind": "WebStack",
            "name": "shop",
            "uid": OWNER.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }
    ]
    assert "ownerReferences" not in object_meta(make_stack(), "n", "backend", owned=False)
    assert "ownerReferences" not in object_meta(make_stack(owner=None), "n", "backend")


def test_security_contexts() -> None:
    assert pod_security_context(70, 70)["runAsNonRoot"] is True
    sc = container_security_context()
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False


def test_resources_are_strings_and_cpu_limit_optional() -> None:
    spec = Resources(requests=ResourceList(cpu=1, memory="1Gi"), limits=LimitList(memory=2147483648))
    assert resources(spec) == {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "2147483648"}}


def test_bounded_name() -> None:
    assert bounded_name("short", 10) == "short"
    long = bounded_name("x" * 80, 63)
    assert len(long) == 63 and long != bounded_name("x" * 79 + "y", 63)


def test_checksum_ignores_key_order() -> None:
    assert checksum({"a": "1", "b": "2"}) == checksum({"b": "2", "a": "1"})
    assert checksum({"a": "1"}) != checksum({"a": "2"})

"""A child's metadata: owner reference and labels, and names bounded to a limit."""

from __future__ import annotations

from tests.support.rendered_stacks import OWNER, make_stack

from webstack_operator.builders.metadata import bounded_name, object_meta


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


def test_bounded_name() -> None:
    assert bounded_name("short", 10) == "short"
    long = bounded_name("x" * 80, 63)
    assert len(long) == 63 and long != bounded_name("x" * 79 + "y", 63)

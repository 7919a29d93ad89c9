"""Velero Schedule: cross-namespace, labelled (not owned), selecting the stack's objects."""

from __future__ import annotations

from tests.support.rendered_stacks import NO_OPTIONAL_APIS, OWNER, make_stack

from webstack_operator.builders.backup import backup_objects, schedule_name


def test_schedule() -> None:
    [schedule] = backup_objects(
        make_stack(backup={"enabled": True, "schedule": "15 1 * * *", "ttl": "168h", "storageLocation": "s3"})
    )
    assert (schedule["apiVersion"], schedule["kind"]) == ("velero.io/v1", "Schedule")
    meta = schedule["metadata"]
    assert meta["namespace"] == "velero"
    assert meta["name"].startswith("team-a-shop-")
    assert "ownerReferences" not in meta
    assert meta["labels"]["app.kubernetes.io/instance"] == "shop"
    assert meta["labels"]["webstack.dev/stack-namespace"] == "team-a"
    spec = schedule["spec"]
    assert spec["schedule"] == "15 1 * * *"
    template = spec["template"]
    assert template["includedNamespaces"] == ["team-a"]
    assert template["labelSelector"]["matchLabels"] == {
        "app.kubernetes.io/part-of": "webstack",
        "app.kubernetes.io/instance": "shop",
        "app.kubernetes.io/managed-by": "webstack-operator",
    }
    assert (template["ttl"], template["storageLocation"], template["snapshotVolumes"]) == ("168h", "s3", True)


def test_file_system_method_does_not_snapshot() -> None:
    [schedule] = backup_objects(make_stack(backup={"enabled": True, "volumeBackupMethod": "FileSystem"}))
    assert schedule["spec"]["template"]["snapshotVolumes"] is False


def test_long_names_are_bounded_and_unique() -> None:
    a = make_stack(name="a" * 40, namespace="n" * 63, backup={"enabled": True})
    b = make_stack(name="a" * 40, namespace="n" * 62 + "m", backup={"enabled": True})
    assert len(schedule_name(a)) <= 63
    assert schedule_name(a) != schedule_name(b)


def test_names_of_stacks_whose_namespace_and_name_join_alike_differ() -> None:
    a = make_stack(name="c", namespace="a-b", backup={"enabled": True})
    b = make_stack(name="b-c", namespace="a", backup={"enabled": True})
    assert schedule_name(a) != schedule_name(b)


def test_off_or_without_velero() -> None:
    assert backup_objects(make_stack()) == []
    assert backup_objects(make_stack(capabilities=NO_OPTIONAL_APIS, backup={"enabled": True})) == []


def test_schedule_names_the_owning_stack_by_uid() -> None:
    [schedule] = backup_objects(make_stack(backup={"enabled": True}))
    assert schedule["metadata"]["labels"]["webstack.dev/stack-uid"] == OWNER.uid

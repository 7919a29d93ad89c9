"""Standard labels and the narrower, immutable selector labels."""

from __future__ import annotations

from webstack_operator.objects import labels


def test_standard_labels() -> None:
    assert labels.standard_labels("shop", labels.BACKEND) == {
        "app.kubernetes.io/name": "users-api",
        "app.kubernetes.io/instance": "shop",
        "app.kubernetes.io/component": "backend",
        "app.kubernetes.io/part-of": "webstack",
        "app.kubernetes.io/managed-by": "webstack-operator",
    }
    assert labels.standard_labels("shop", labels.NETWORK)["app.kubernetes.io/name"] == "webstack"


def test_selector_labels_are_a_subset_without_name() -> None:
    selector = labels.selector_labels("shop", labels.DATABASE)
    assert selector.items() <= labels.standard_labels("shop", labels.DATABASE).items()
    assert labels.NAME not in selector


def test_cross_namespace_labels_name_the_stack() -> None:
    cross = labels.cross_namespace_labels("shop", "team-a", labels.BACKUP)
    assert cross[labels.STACK_NAMESPACE] == "team-a"
    assert cross[labels.INSTANCE] == "shop"


def test_managed_instance_selector_selects_by_name_and_manager() -> None:
    assert labels.managed_instance_selector("shop") == (
        "app.kubernetes.io/instance=shop,app.kubernetes.io/managed-by=webstack-operator"
    )


def test_cross_namespace_selector_names_the_stack_and_with_a_uid_only_that_webstack() -> None:
    selector = labels.cross_namespace_selector("team-a", "shop")
    assert selector == (
        "app.kubernetes.io/instance=shop,webstack.dev/stack-namespace=team-a,"
        "app.kubernetes.io/managed-by=webstack-operator"
    )
    assert labels.cross_namespace_selector("team-a", "shop", "u-1") == f"{selector},{labels.STACK_UID}=u-1"

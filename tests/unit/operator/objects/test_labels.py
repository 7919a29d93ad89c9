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

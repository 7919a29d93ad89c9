"""ServiceAccounts: one per workload, no token, IRSA on the backend's."""

from __future__ import annotations

from tests.support.rendered_stacks import find, kinds, make_stack

from webstack_operator.builders.identity import IRSA_ANNOTATION, service_accounts

ROLE = "arn:aws:iam::123456789012:role/shop-api"


def test_one_account_per_workload_without_token() -> None:
    accounts = service_accounts(make_stack())
    assert kinds(accounts) == [
        "ServiceAccount/shop-backend",
        "ServiceAccount/shop-frontend",
        "ServiceAccount/shop-postgres",
        "ServiceAccount/shop-redis",
    ]
    assert all(a["automountServiceAccountToken"] is False for a in accounts)
    assert all(a["metadata"]["ownerReferences"][0]["controller"] is True for a in accounts)


def test_irsa_annotation_only_on_backend() -> None:
    accounts = service_accounts(make_stack(backend={"iamRoleArn": ROLE}))
    assert find(accounts, "ServiceAccount", "shop-backend")["metadata"]["annotations"] == {
        IRSA_ANNOTATION: ROLE
    }
    assert "annotations" not in find(accounts, "ServiceAccount", "shop-frontend")["metadata"]


def test_no_accounts_for_components_run_elsewhere() -> None:
    ctx = make_stack(
        database={"mode": "External", "credentials": {"secretRef": {"name": "rds"}}},
        cache={"mode": "Disabled"},
    )
    assert kinds(service_accounts(ctx)) == ["ServiceAccount/shop-backend", "ServiceAccount/shop-frontend"]

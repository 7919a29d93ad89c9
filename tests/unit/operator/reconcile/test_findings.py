"""Findings: what waits on the user is said once, in one condition, and looked at again later."""

from __future__ import annotations

from webstack_operator.api.problem import Problem
from webstack_operator.objects.ownership import Ownership
from webstack_operator.reconcile.findings import (
    COLLECTION_RECHECK_SECONDS,
    CONFLICT_RECHECK_SECONDS,
    Findings,
)

LIVE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "shop-backend", "namespace": "team"}}


def test_a_conflict_is_recorded_and_rechecked_later() -> None:
    found = Findings()
    assert not found.allows("Service", LIVE, Ownership.CONFLICT)
    assert found.recheck == CONFLICT_RECHECK_SECONDS
    problem = found.problem()
    assert problem is not None and problem.reason == "NameConflict"
    assert "Service team/shop-backend" in problem.message


def test_a_doomed_object_is_waited_for_quietly() -> None:
    found = Findings()
    assert not found.allows("Service", LIVE, Ownership.DOOMED)
    assert found.recheck == COLLECTION_RECHECK_SECONDS
    assert found.problem() is None


def test_ours_and_handed_over_objects_may_be_written() -> None:
    found = Findings()
    for whose in (Ownership.OURS, Ownership.LEFTOVER, Ownership.ADOPTABLE, None):
        assert found.allows("Service", LIVE, whose)
    assert found.recheck is None and found.problem() is None


def test_every_problem_is_in_one_message_the_first_names_the_reason() -> None:
    found = Findings(missing_apis=[Problem("SealedSecretsNotInstalled", "no SealedSecret API")])
    found.refuse_adoption("Service x does not merge")
    problem = found.problem()
    assert problem is not None and problem.reason == "AdoptionRefused"
    assert problem.message == "Service x does not merge; no SealedSecret API"
    assert [reason for reason, _ in found.waiting_on_user()] == [
        "AdoptionRefused",
        "SealedSecretsNotInstalled",
    ]


def test_the_soonest_recheck_wins() -> None:
    found = Findings()
    found.credentials_missing("the Secret is missing")
    found.later(COLLECTION_RECHECK_SECONDS)
    assert found.recheck == COLLECTION_RECHECK_SECONDS
    assert found.database == Problem("CredentialsMissing", "the Secret is missing")

"""The restart action's rules (reconcile/restart_action.py): the request, the patch per kind, and when a
request was carried out already."""

from __future__ import annotations

from webstack_operator.reconcile.credentials_rules import RESTARTED_AT
from webstack_operator.reconcile.restart_action import (
    RESTART_ANNOTATION,
    RESTARTED_FOR,
    carried_out,
    restart_patch,
    restart_request,
)

NOW, REQUEST = "2026-12-06T21:00:05Z", "2026-12-06T21:00:00Z"


def test_the_request_is_the_annotations_value_when_set() -> None:
    assert restart_request({"metadata": {}}) is None
    assert restart_request({"metadata": {"annotations": {RESTART_ANNOTATION: ""}}}) is None
    assert restart_request({"metadata": {"annotations": {RESTART_ANNOTATION: REQUEST}}}) == REQUEST


def test_a_deployment_restarts_through_its_pod_template_a_rollout_through_restart_at() -> None:
    """As `kubectl rollout restart` and `kubectl argo rollouts restart` do: a Rollout's template is left
    alone, or its restart would be a new revision going through the canary's steps."""
    assert restart_patch("Deployment", NOW, REQUEST) == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: NOW}}}},
        "metadata": {"annotations": {RESTARTED_FOR: REQUEST}},
    }
    assert restart_patch("Rollout", NOW, REQUEST) == {
        "spec": {"restartAt": NOW},
        "metadata": {"annotations": {RESTARTED_FOR: REQUEST}},
    }
    # The credentials' restart notes no request.
    assert restart_patch("Deployment", NOW) == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: NOW}}}}
    }


def test_a_request_is_carried_out_once_the_workload_names_it() -> None:
    workload = {"metadata": {"annotations": {RESTARTED_FOR: REQUEST}}}
    assert carried_out(workload, REQUEST)
    assert not carried_out(workload, "2026-12-06T22:00:00Z")
    assert not carried_out({"metadata": {}}, REQUEST)

"""The one table of child kinds, and what is derived from it."""

from __future__ import annotations

from dataclasses import fields

from webstack_operator.builders.stack_objects import APPLY_ORDER
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.objects.kinds import CHILD_KINDS, apply_rank, capabilities_from, child_kind

EVERYTHING = {(k.api_version, k.kind) for k in CHILD_KINDS}


def test_every_capability_is_proved_by_a_kind_and_every_kind_once() -> None:
    assert {k.capability for k in CHILD_KINDS if k.optional} == {f.name for f in fields(Capabilities)}
    assert len(EVERYTHING) == len(CHILD_KINDS)


def test_capabilities_need_every_kind_of_their_api() -> None:
    assert capabilities_from(EVERYTHING) == Capabilities()
    core = {(k.api_version, k.kind) for k in CHILD_KINDS if not k.optional}
    assert capabilities_from(core) == Capabilities(False, False, False, False, False)
    half_argo = core | {("argoproj.io/v1alpha1", "Rollout")}
    assert not capabilities_from(half_argo).argo_rollouts


def test_apply_order_is_the_tables_order() -> None:
    assert tuple(k.kind for k in CHILD_KINDS if k.rendered) == APPLY_ORDER
    assert apply_rank("ServiceAccount") < apply_rank("Deployment") < apply_rank("HorizontalPodAutoscaler")


def test_lookup() -> None:
    schedule = child_kind("velero.io/v1", "Schedule")
    assert schedule is not None
    assert schedule.elsewhere
    assert schedule.group == "velero.io"
    assert child_kind("v1", "Pod") is None
    secret = child_kind("v1", "Secret")
    assert secret is not None
    assert secret.create_only
    assert secret.group == ""


def test_velero_backups_are_watched_but_never_the_operators_to_write() -> None:
    backup = child_kind("velero.io/v1", "Backup")
    assert backup is not None
    assert backup.elsewhere and not backup.rendered and backup.capability == "velero"
    assert "Backup" not in APPLY_ORDER


def test_analysis_runs_are_watched_but_never_the_operators_to_write() -> None:
    run = child_kind("argoproj.io/v1alpha1", "AnalysisRun")
    assert run is not None
    assert not run.elsewhere and not run.rendered and run.capability == "argo_rollouts"
    assert "AnalysisRun" not in APPLY_ORDER

"""Transitions: data is let go rather than deleted by an edit; a backend hands over, one stack at a time."""

from __future__ import annotations

from typing import Any

from tests.support.rendered_stacks import OWNER, make_stack

from webstack_operator.builders.backend import backend_objects
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.objects import labels
from webstack_operator.objects.stamps import key_of
from webstack_operator.reconcile.decisions import to_prune
from webstack_operator.reconcile.transitions import (
    HANDOVER_GAP_SECONDS,
    HANDOVER_TURN_SECONDS,
    ORPHANED_FROM,
    HandOverSlot,
    available,
    claim_names,
    conditions,
    held_by_handover,
    orphan_event,
    orphan_patch,
    orphans,
    plan_prune,
    take_turn,
)

UID = OWNER.uid
STACK = ("team-a", "shop")
ARGO = Capabilities(argo_rollouts=True)
NO_ARGO = Capabilities(argo_rollouts=False)
CANARY_STEPS = {"strategy": "Canary", "steps": [{"setWeight": 20}, {"pause": {}}]}


def _obj(
    kind: str, name: str, api_version: str = "v1", *, owner: str | None = UID, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "team-a",
        "uid": f"uid-{kind}-{name}",
        "resourceVersion": "7",
        "labels": {labels.INSTANCE: "shop", labels.MANAGED_BY: labels.MANAGED_BY_VALUE},
    }
    if owner is not None:
        meta["ownerReferences"] = [{"uid": owner, "controller": True, "kind": "WebStack", "name": "shop"}]
    meta.update(extra.pop("meta", {}))
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


def _statefulset(**extra: Any) -> dict[str, Any]:
    return _obj("StatefulSet", "shop-postgres", "apps/v1", spec={"replicas": 1}, **extra)


def _generated(owner: str | None = UID) -> dict[str, Any]:
    return _obj(
        "Secret", "shop-postgres", owner=owner, meta={"annotations": {"webstack.dev/generated": "true"}}
    )


def _workload(kind: str, replicas: int = 2, available_replicas: int = 0, **status: Any) -> dict[str, Any]:
    api = "apps/v1" if kind == "Deployment" else "argoproj.io/v1alpha1"
    obj = _obj(kind, "shop-backend", api, spec={"replicas": replicas})
    obj["metadata"]["generation"] = 1
    obj["status"] = {"availableReplicas": available_replicas, "observedGeneration": 1, **status}
    return obj


# -- data: orphan, never delete
def test_a_statefulset_no_longer_rendered_is_orphaned_never_deleted() -> None:
    sts, service = _statefulset(), _obj("Service", "shop-postgres")
    plan = plan_prune([sts, service], [], STACK, UID, frozenset())
    assert plan.orphan == [sts]
    assert plan.delete == [(service, "Background")]
    assert to_prune([sts, service], [], UID, "team-a") == [service]  # what `plan` shows as deleted


def test_the_orphan_patch_drops_our_owner_reference_and_retains_the_claims() -> None:
    sts = _statefulset()
    sts["metadata"]["ownerReferences"].append({"uid": "someone-else", "kind": "Thing", "name": "x"})
    patch = orphan_patch(sts, UID)
    assert patch["metadata"]["ownerReferences"] == [{"uid": "someone-else", "kind": "Thing", "name": "x"}]
    assert patch["metadata"]["annotations"] == {ORPHANED_FROM: UID}
    assert patch["metadata"]["resourceVersion"] == "7"  # conditional: decided on what we saw
    assert patch["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    only_ours = orphan_patch(_generated(), UID)
    assert only_ours["metadata"]["ownerReferences"] is None  # merge patch: removes the list
    assert "spec" not in only_ours


def test_the_generated_database_credentials_are_let_go_with_the_data_but_not_the_cache_password() -> None:
    redis = _obj("Secret", "shop-redis", meta={"annotations": {"webstack.dev/generated": "true"}})
    for secret in (_generated(UID), _generated(None)):  # Delete (owned) and Retain (not)
        plan = plan_prune([secret, redis], [], STACK, UID, frozenset())
        assert plan.orphan == [secret]
        assert plan.delete == []
    assert plan_prune([_generated()], [_generated()], STACK, UID, frozenset()).orphan == []  # still desired


def test_a_credentials_source_is_deleted_without_the_secret_it_made() -> None:
    sealed = _obj("SealedSecret", "shop-postgres", "bitnami.com/v1alpha1")
    external = _obj("ExternalSecret", "shop-postgres", "external-secrets.io/v1")
    plan = plan_prune([sealed, external], [], STACK, UID, frozenset())
    assert plan.delete == [(sealed, "Orphan"), (external, "Orphan")]


def test_what_was_let_go_is_not_let_go_again_and_is_reported_until_deleted_or_taken_back() -> None:
    released = _statefulset(owner=None, meta={"annotations": {ORPHANED_FROM: UID}})
    assert plan_prune([released], [], STACK, UID, frozenset()).orphan == []
    assert orphans([released], [], UID) == [released]
    assert orphans([released], [_statefulset()], UID) == []  # rendered again: adopted back
    taken_back = _statefulset(meta={"annotations": {ORPHANED_FROM: UID}})
    assert orphans([taken_back], [], UID) == []
    assert plan_prune([taken_back], [], STACK, UID, frozenset()).orphan == [taken_back]  # and let go again


def test_the_event_names_the_objects_their_claims_and_how_to_delete_them() -> None:
    event = orphan_event("team-a", [_generated(), _statefulset()])
    assert (event.type, event.reason) == ("Warning", "Orphaned")
    assert "StatefulSet shop-postgres (PVC data-shop-postgres-0)" in event.message
    assert "Secret shop-postgres" in event.message
    for command in (
        "kubectl -n team-a delete statefulset shop-postgres",
        "kubectl -n team-a delete pvc data-shop-postgres-0",
        "kubectl -n team-a delete secret shop-postgres",
    ):
        assert command in event.message
    assert claim_names(_obj("StatefulSet", "db", "apps/v1", spec={"replicas": 2})) == [
        "data-db-0",
        "data-db-1",
    ]


def test_the_orphaned_condition_holds_while_the_objects_exist() -> None:
    ctx = make_stack(database={"mode": "Managed"})
    body = {"metadata": {"uid": UID, "generation": 3}, "status": {}}
    released = _statefulset(owner=None, meta={"annotations": {ORPHANED_FROM: UID}})
    found = conditions(body, ctx, [], [released], None, "2026-01-01T00:00:00Z")
    assert [(c["type"], c["status"], c["reason"]) for c in found] == [("Orphaned", "True", "KeptData")]
    assert "kubectl -n team-a delete pvc data-shop-postgres-0" in found[0]["message"]
    later = conditions(
        {**body, "status": {"conditions": found}}, ctx, [], [released], None, "2026-01-02T00:00:00Z"
    )
    assert later[0]["lastTransitionTime"] == "2026-01-01T00:00:00Z"
    assert conditions(body, ctx, [], [], None, "2026-01-01T00:00:00Z") == []


# -- workloads: hand over
def test_a_workload_is_available_when_every_wanted_pod_is() -> None:
    assert not available(_workload("Deployment", 2, 1))
    assert available(_workload("Deployment", 2, 2))
    assert not available(_workload("Deployment", 2, 2, observedGeneration=0))  # status of an older spec
    assert not available(_workload("Rollout", 0, 0))  # at least one pod, whatever the spec says
    assert available(_workload("Rollout", 3, 3))


def test_the_old_workload_stays_until_the_new_one_is_available() -> None:
    deployment = _workload("Deployment", 2, 2)
    rollout = make_stack(capabilities=ARGO, backend={"delivery": CANARY_STEPS})
    desired = [o for o in backend_objects(rollout) if o["kind"] == "Rollout"]
    assert held_by_handover([deployment], desired, "shop-backend", UID) == {
        key_of(deployment)
    }  # not yet seen
    starting = [deployment, _workload("Rollout", 2, 1)]
    assert held_by_handover(starting, desired, "shop-backend", UID) == {key_of(deployment)}
    assert plan_prune(starting, desired, STACK, UID, frozenset({key_of(deployment)})).delete == []
    ready = [deployment, _workload("Rollout", 2, 2)]
    assert held_by_handover(ready, desired, "shop-backend", UID) == frozenset()
    assert [o for o, _ in plan_prune(ready, desired, STACK, UID, frozenset()).delete] == [deployment]


def test_one_stack_hands_over_at_a_time_when_the_cluster_gains_argo_rollouts() -> None:
    slot = HandOverSlot()
    children = [_workload("Deployment", 2, 2)]
    first = make_stack(capabilities=ARGO, backend={"delivery": CANARY_STEPS})
    ctx, waiting = take_turn(slot, STACK, first, children, UID, now=0.0)
    assert (ctx.uses_rollout, waiting) == (True, None)
    other = ("team-b", "shop")
    ctx, waiting = take_turn(slot, other, first, children, UID, now=1.0)
    assert (ctx.uses_rollout, waiting) == (False, STACK)  # renders its Deployment as before, and waits
    assert (
        conditions({"metadata": {"uid": UID}}, ctx, [], children, waiting, "2026-01-01T00:00:00Z")[0][
            "reason"
        ]
        == "WaitingForTurn"
    )
    slot.release(STACK, now=2.0)
    assert take_turn(slot, other, first, children, UID, now=2.5)[1] == STACK  # a breather in between
    ctx, waiting = take_turn(slot, other, first, children, UID, now=2.0 + HANDOVER_GAP_SECONDS)
    assert (ctx.uses_rollout, waiting) == (True, None)
    ctx, waiting = take_turn(slot, STACK, first, children, UID, now=4.0 + HANDOVER_TURN_SECONDS)
    assert waiting is None  # a turn held too long passes on


def test_a_switch_the_user_asked_for_goes_ahead_and_takes_the_free_turn() -> None:
    slot = HandOverSlot(holder=("team-b", "other"), since=0.0)
    rolling = make_stack(capabilities=ARGO)  # the user switched Canary -> RollingUpdate
    ctx, waiting = take_turn(slot, STACK, rolling, [_workload("Rollout", 2, 2)], UID, now=1.0)
    assert (ctx.uses_rollout, waiting) == (False, None)
    no_switch = make_stack(capabilities=NO_ARGO)
    assert take_turn(HandOverSlot(), STACK, no_switch, [_workload("Deployment")], UID, 0.0) == (
        no_switch,
        None,
    )


def test_back_to_a_deployment_the_rollout_stays_while_the_stable_service_selects_only_its_pods() -> None:
    rolling = make_stack(capabilities=ARGO)
    desired = [o for o in backend_objects(rolling) if o["kind"] == "Deployment"]
    rollout, deployment = _workload("Rollout", 2, 2), _workload("Deployment", 2, 2)
    narrowed = _obj("Service", "shop-backend", spec={"selector": {"rollouts-pod-template-hash": "abc"}})
    held = held_by_handover([rollout, deployment, narrowed], desired, "shop-backend", UID)
    assert held == {key_of(rollout)}
    plain = _obj("Service", "shop-backend", spec={"selector": {}})
    assert held_by_handover([rollout, deployment, plain], desired, "shop-backend", UID) == frozenset()


def test_a_paused_stack_never_takes_the_turn() -> None:
    slot = HandOverSlot()
    paused = make_stack(capabilities=ARGO, paused=True, backend={"delivery": CANARY_STEPS})
    assert take_turn(slot, STACK, paused, [_workload("Deployment", 2, 2)], UID, 0.0) == (paused, None)
    assert slot.holder is None


def test_a_hand_over_underway_is_finished_not_turned_back_even_without_the_turn() -> None:
    """After an operator restart the turn is forgotten: a stack found with both workloads goes on."""
    slot = HandOverSlot(holder=("team-b", "other"), since=0.0)
    canary = make_stack(capabilities=ARGO, backend={"delivery": CANARY_STEPS})
    both = [_workload("Deployment", 2, 2), _workload("Rollout", 2, 1)]
    ctx, waiting = take_turn(slot, STACK, canary, both, UID, now=1.0)
    assert (ctx.uses_rollout, waiting) == (True, None)
    free = HandOverSlot()
    take_turn(free, STACK, canary, both, UID, now=1.0)
    assert free.holder == STACK  # and holds the turn while it finishes

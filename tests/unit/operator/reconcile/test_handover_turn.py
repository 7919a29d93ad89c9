"""The operator-wide hand-over turn is held only by a stack whose hand-over progresses: a refused generation,
a paused stack or a new workload held by the migration gate lets it go, and the stacks waiting for it are
woken when it is released rather than looking again every 2 s."""

from __future__ import annotations

from typing import Any, cast

from tests.support.refused_stack import STACK as REFUSED
from tests.support.refused_stack import RefusingClient, refused_reconciler
from tests.support.rendered_stacks import OWNER, make_stack

from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.config.run_options import OperatorConfig, load_settings
from webstack_operator.controller.wiring import Controller
from webstack_operator.kube.client import KubeClient
from webstack_operator.objects import labels
from webstack_operator.observe.cache import ChildCache
from webstack_operator.reconcile import rendering, transitions
from webstack_operator.reconcile.transitions import (
    HANDOVER_GAP_SECONDS,
    HANDOVER_RECHECK_SECONDS,
    HANDOVER_TURN_SECONDS,
    HandOverSlot,
    after_prune,
    take_turn,
)

STACK, UID = ("team-a", "shop"), OWNER.uid
OTHER = ("team-b", "web")
ARGO = Capabilities(argo_rollouts=True)
CANARY = {"strategy": "Canary", "steps": [{"setWeight": 20}, {"pause": {}}]}


def _deployment(image: str = "ghcr.io/webstack-dev/users-api:0.1.0") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "shop-backend",
            "namespace": "team-a",
            "uid": "deployment-uid",
            "resourceVersion": "3",
            "generation": 1,
            "labels": labels.standard_labels("shop", labels.BACKEND),
            "ownerReferences": [{"uid": UID, "controller": True, "kind": "WebStack", "name": "shop"}],
        },
        "spec": {"replicas": 2, "template": {"spec": {"containers": [{"name": "api", "image": image}]}}},
        "status": {"availableReplicas": 2, "observedGeneration": 1},
    }


async def test_a_refused_generation_lets_the_turn_go() -> None:
    """A stack mid-hand-over whose next generation the apiserver refuses prunes nothing: it must not keep
    every other stack's switch waiting."""
    reconciler = refused_reconciler(RefusingClient())
    reconciler.handovers = HandOverSlot(holder=REFUSED, since=0.0)
    assert await reconciler.reconcile(REFUSED) == "Failed"
    assert reconciler.handovers.holder is None


def test_a_paused_stack_lets_the_turn_it_held_go() -> None:
    slot = HandOverSlot(holder=STACK, since=0.0)
    paused = make_stack(capabilities=ARGO, paused=True, backend={"delivery": CANARY})
    assert take_turn(slot, STACK, paused, [_deployment()], UID, 1.0) == (paused, None)
    assert slot.holder is None


def test_a_new_workload_held_by_the_migration_gate_does_not_hold_the_turn() -> None:
    """A switch to a Rollout with a new image: the Rollout waits for its migration Job, which failed. Nothing
    of the hand-over can happen until the user acts; the Job's events wake the stack, not a 2 s recheck."""
    new_image = "ghcr.io/webstack-dev/users-api:0.2.0"
    ctx = make_stack(capabilities=ARGO, backend={"image": new_image, "delivery": CANARY})
    job = next(o for o in desired_objects(ctx) if o["kind"] == "Job")
    job["metadata"] |= {"uid": "job-uid", "resourceVersion": "4"}
    job["status"] = {"conditions": [{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}
    cache = ChildCache()
    cache.track(STACK, UID)
    for child in (_deployment(), job):
        cache.upsert(child)
    body = {
        "apiVersion": "webstack.dev/v1alpha1",
        "kind": "WebStack",
        "metadata": {"name": "shop", "namespace": "team-a", "uid": UID, "generation": 2},
        "spec": ctx.spec.model_dump(by_alias=True, exclude_none=True),
    }
    slot = HandOverSlot()
    rendered = rendering.render(STACK, body, ctx.settings, ARGO, cache, slot, now=1.0)
    assert rendered.gate.failed and rendered.waiting_for is None
    assert slot.holder is None
    assert slot.take(OTHER, 1.0) is None  # another stack's switch starts at once
    held = transitions.held_by_handover(cache.children(STACK), rendered.desired, "shop-backend", UID)
    assert held  # the Deployment keeps serving
    assert rendered.gated
    assert after_prune(slot, STACK, held, None, rendered.gated, 2.0) is None


def test_a_waiting_stack_is_woken_when_the_turn_is_released_not_every_two_seconds() -> None:
    woken: list[tuple[tuple[str, str], float]] = []
    slot = HandOverSlot(wake=lambda stack, delay: woken.append((stack, delay)))
    ctx = make_stack(capabilities=ARGO, backend={"delivery": CANARY})
    assert take_turn(slot, STACK, ctx, [_deployment()], UID, 0.0)[1] is None
    _, waiting = take_turn(slot, OTHER, ctx, [_deployment()], UID, 10.0)
    assert waiting == STACK
    recheck = after_prune(slot, OTHER, frozenset(), waiting, False, 10.0)
    assert recheck == HANDOVER_TURN_SECONDS - 10.0  # when the turn would pass on, not every 2 s
    assert recheck > HANDOVER_RECHECK_SECONDS
    slot.release(STACK, 20.0)
    assert woken == [(OTHER, HANDOVER_GAP_SECONDS)]
    assert after_prune(slot, OTHER, frozenset(), STACK, False, 20.5) == HANDOVER_GAP_SECONDS - 0.5


async def test_the_controller_wakes_the_stacks_waiting_for_the_turn() -> None:
    class NoClient:
        def resource(self, api_version: str, kind: str) -> None:
            return None

    controller = Controller(cast(KubeClient, NoClient()), OperatorConfig(settings=load_settings({})))
    controller.reconciler.bodies[OTHER] = {"metadata": {"name": "web", "namespace": "team-b"}}
    assert controller.reconciler.handovers.wake is not None
    controller.reconciler.handovers.wake(OTHER, HANDOVER_GAP_SECONDS)
    controller.reconciler.handovers.wake(("team-c", "gone"), HANDOVER_GAP_SECONDS)  # deleted meanwhile
    assert len(controller.queue) == 1
    await controller.queue.close()

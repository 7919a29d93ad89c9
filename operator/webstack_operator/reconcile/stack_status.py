"""The status one reconcile writes: what it observed of its stack, read by `status.compute`.

The reconciler's last step: the stack's children as the cache holds them, what the dependents cache knows
of their pods, claims and failed creates, and what the reconcile itself found, read by `status.compute`;
the transitions add the conditions they hold (`Orphaned`, `BackendHandOver`). Nothing is written here.
"""

from __future__ import annotations

from collections.abc import Callable

from webstack_operator.api.problem import Problem
from webstack_operator.builders.frontend import frontend_name
from webstack_operator.builders.ingress import stack_url
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.cache import StackKey
from webstack_operator.observe.dependents import DependentsCache
from webstack_operator.observe.prerequisites import PrerequisiteCheck
from webstack_operator.reconcile import transitions
from webstack_operator.reconcile.rendering import Rendered
from webstack_operator.status.compute import compute_status
from webstack_operator.status.observed import Observed, observe


def observe_stack(
    stack: StackKey,
    body: JSON,
    rendered: Rendered,
    children: list[JSON],
    dependents: DependentsCache,
    *,
    problem: Problem | None,
    database_problem: Problem | None,
    prerequisites: PrerequisiteCheck | None,
    last_drill: JSON | None = None,
) -> Observed:
    """What status reads of one stack: its `children` and what the reconcile found."""
    ctx = rendered.ctx
    database = f"{stack[1]}-postgres"  # the StatefulSet whose failed creates only Events tell
    failed = dependents.failed_create(stack[0], database)
    return observe(
        children,
        rendered.spec,
        name=stack[1],
        generation=int(body["metadata"].get("generation") or 0),
        capabilities=ctx.settings.capabilities,  # as rendered: a backend waiting its hand-over turn
        problem=problem,
        url=stack_url(ctx) or f"http://{frontend_name(ctx)}.{stack[0]}.svc.cluster.local",
        database_problem=database_problem,
        migration=rendered.gate.verdict,
        network_policies=frozenset(
            o["metadata"]["name"] for o in rendered.desired if o["kind"] == "NetworkPolicy"
        ),
        problems=dependents.problems(stack),
        failed_creates={database: failed} if failed is not None else None,
        prerequisites=prerequisites,
        last_drill=last_drill,
        rotation=rendered.rotation,
    )


def stack_status(
    stack: StackKey,
    body: JSON,
    rendered: Rendered,
    children: list[JSON],
    released: list[JSON],
    dependents: DependentsCache,
    clock: Callable[[], str],
    *,
    problem: Problem | None,
    database_problem: Problem | None = None,
    prerequisites: PrerequisiteCheck | None = None,
    last_drill: JSON | None = None,
) -> JSON:
    """The status to write for `body`, whose reconcile rendered `rendered` and found `problem`. `children`
    are the stack's own (not those of an earlier WebStack of its name); `released`, those it let go."""
    previous = body.get("status") or {}
    observed = observe_stack(
        stack,
        body,
        rendered,
        children,
        dependents,
        problem=problem,
        database_problem=database_problem,
        prerequisites=prerequisites,
        last_drill=last_drill,
    )
    status = compute_status(rendered.spec, observed, previous, clock())
    status["conditions"] += transitions.conditions(
        body, rendered.ctx, rendered.desired, [*children, *released], rendered.waiting_for, clock()
    )
    return status

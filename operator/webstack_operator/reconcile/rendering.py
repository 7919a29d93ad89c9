"""One WebStack's desired objects, from its spec and what the watches saw (pure: no request is sent).

What the cache saw enters the render on purpose: Argo Rollouts' key in the backend Services' selectors,
the migration gate (a new backend image waits for its Job) and the hand-over turn (transitions.py) all
read the children as observed before this reconcile.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace

from webstack_operator.api.group_version import API_VERSION, KIND
from webstack_operator.api.spec import SpecError, WebStackSpec, parse_spec
from webstack_operator.builders.context import OwnerRef, StackContext
from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.config.operator_settings import Capabilities, OperatorSettings
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.cache import ChildCache, StackKey, pod_template_hashes
from webstack_operator.reconcile import migration_gate, rotation_rules, transitions


@dataclass(frozen=True)
class Rendered:
    spec: WebStackSpec
    ctx: StackContext
    desired: list[JSON]
    gate: migration_gate.Migration = field(default_factory=migration_gate.Migration)  # migration: what waits
    waiting_for: StackKey | None = None  # transitions: the stack whose backend hand-over goes first
    rotation: rotation_rules.RotationVerdict | None = None  # the credentials rotation, as the cache saw it

    @property
    def gated(self) -> bool:
        """The migration gate holds the backend workload this render wants (transitions.gated)."""
        return transitions.gated(self.desired, self.gate.held)


def render(
    stack: StackKey,
    body: JSON,
    settings: OperatorSettings,
    capabilities: Capabilities,
    cache: ChildCache,
    handovers: transitions.HandOverSlot,
    now: float,
) -> Rendered:
    """Raises SpecError for a spec the builders refuse (a combination the schema let through)."""
    spec = parse_spec(body)
    uid, children = body["metadata"]["uid"], cache.children(stack)
    ctx = StackContext(
        spec=spec,
        name=stack[1],
        namespace=stack[0],
        settings=replace(settings, capabilities=capabilities),
        owner=OwnerRef(api_version=API_VERSION, kind=KIND, name=stack[1], uid=uid),
        generated_password=secrets.token_urlsafe(24),
        generated_cache_password=secrets.token_urlsafe(24),
        # Argo Rollouts' key in the backend Services' selectors, kept as the cache saw it.
        pod_template_hashes=pod_template_hashes(children),
    )
    ctx, waiting = transitions.take_turn(handovers, stack, ctx, children, uid, now)
    try:
        desired = desired_objects(ctx) if not spec.paused else []
    except (ValueError, KeyError) as e:
        raise SpecError([("spec", str(e))]) from e
    # credentials: a rotation's step runs its Job (rotation_rules.py)
    seen = cache.get(rotation_rules.credentials_secret_key(ctx))
    secret = rotation_rules.rotated_secret(ctx, seen.obj if seen is not None else None)
    if not spec.paused:
        desired += rotation_rules.rotation_jobs(ctx, secret)
    # migration: a new backend image waits for its migration Job, as the cache saw it before this run.
    gate = migration_gate.gate(desired, children)
    rotation = rotation_rules.observed_verdict(ctx, secret, children)
    rendered = Rendered(spec, ctx, desired, gate, waiting, rotation)
    transitions.step_aside(handovers, stack, rendered.gated, now)
    return rendered

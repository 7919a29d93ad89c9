"""The restart action: `webstack.dev/restart-backend` on a WebStack rolls its backend once, then goes.

A one-shot request like the credentials' regenerate action: Argo CD's `restart` action (deploy/argocd) or
`kubectl annotate` sets it to a new value (Argo CD's: the request's time). The operator rolls the backend the
way `kubectl rollout restart` does (a Deployment's pod template gets `webstack.dev/restarted-at`; a Rollout
gets `spec.restartAt`, Argo Rollouts' own restart, so no new revision and no canary), records the request
on the workload (`webstack.dev/restarted-for`), so a request already carried out is never carried out
twice when removing the annotation fails, and removes the annotation. Writes go through the actions'
field manager: the operator's apply never takes them back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from webstack_operator.builders.backend import backend_name
from webstack_operator.builders.context import StackContext
from webstack_operator.kube.apply import merge_patch
from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.cache import ChildCache, StackKey
from webstack_operator.reconcile.credentials_rules import ACTIONS_MANAGER, RESTARTED_AT
from webstack_operator.reconcile.decisions import Event, Tell
from webstack_operator.reconcile.one_shot import consume_request

RESTART_ANNOTATION = "webstack.dev/restart-backend"  # on the WebStack: a one-shot action
RESTARTED_FOR = "webstack.dev/restarted-for"  # on the backend workload: which request rolled it
ROLLOUTS_API = "argoproj.io/v1alpha1"


def restart_request(stack_body: JSON) -> str | None:
    """The value of the restart action on the WebStack, if the user asked for one."""
    value = (stack_body["metadata"].get("annotations") or {}).get(RESTART_ANNOTATION)
    return str(value) if value else None


def restart_patch(kind: str, now: str, request: str | None = None) -> JSON:
    """The merge patch that restarts a Deployment's or a Rollout's pods at `now`, noting `request`."""
    body: JSON = (
        {"spec": {"restartAt": now}}
        if kind == "Rollout"
        else {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
    )
    if request is not None:
        body["metadata"] = {"annotations": {RESTARTED_FOR: request}}
    return body


def carried_out(workload: JSON, request: str) -> bool:
    return (workload["metadata"].get("annotations") or {}).get(RESTARTED_FOR) == request


async def roll(
    client: KubeClient, cache: ChildCache, namespace: str, kind: str, name: str, body: JSON
) -> bool:
    """Patches a workload the cache holds (a Deployment or a Rollout); False when there is none to roll."""
    resource = client.resource("apps/v1" if kind == "Deployment" else ROLLOUTS_API, kind)
    if resource is None or cache.get((resource.api_version, kind, namespace, name)) is None:
        return False
    try:
        await merge_patch(client, resource, namespace, name, body, manager=ACTIONS_MANAGER)
    except ApiError as e:
        if e.status != 404:
            raise
        return False
    return True


@dataclass
class BackendRestarts:
    client: KubeClient
    cache: ChildCache
    tell: Tell  # an Event on the WebStack
    clock: Callable[[], str]  # now, RFC 3339

    async def consume(self, stack: StackKey, owner: JSON, ctx: StackContext) -> JSON | None:
        """Rolls the backend for a new request, then removes the annotation; the WebStack as written, or
        None when nothing was asked."""
        request = restart_request(owner)
        if request is None:
            return None
        name, found, rolled = backend_name(ctx), False, False
        for kind, api_version in (("Deployment", "apps/v1"), ("Rollout", ROLLOUTS_API)):
            seen = self.cache.get((api_version, kind, ctx.namespace, name))
            found = found or seen is not None
            if seen is None or carried_out(seen.obj, request):
                continue
            body = restart_patch(kind, self.clock(), request)
            rolled = await roll(self.client, self.cache, ctx.namespace, kind, name, body) or rolled
        if rolled:
            message = f"{RESTART_ANNOTATION}={request}: the backend's pods are replaced, a few at a time"
            await self.tell(owner, Event("Normal", "BackendRestarted", message))
        elif not found:  # a first install still migrating: its pods start fresh anyway
            message = f"{RESTART_ANNOTATION}={request}: there is no backend workload to restart yet"
            await self.tell(owner, Event("Normal", "RestartIgnored", message))
        return await consume_request(self.client, stack, RESTART_ANNOTATION)

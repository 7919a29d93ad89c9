"""One-shot actions asked for by an annotation on the WebStack (restart, regenerate, drill): their end."""

from __future__ import annotations

from webstack_operator.api.group_version import API_VERSION, KIND
from webstack_operator.kube.apply import merge_patch
from webstack_operator.kube.client import KubeClient
from webstack_operator.kube.jsondata import JSON
from webstack_operator.observe.cache import StackKey
from webstack_operator.reconcile.credentials_rules import ACTIONS_MANAGER


async def consume_request(client: KubeClient, stack: StackKey, annotation: str) -> JSON:
    """Removes the request's annotation once it is acted on, so the same value is never acted on twice; the
    WebStack as written. Under the actions' field manager: it never fights the user's apply of the spec."""
    resource = client.resource(API_VERSION, KIND)
    assert resource is not None, "the WebStack CRD is served"
    body = {"metadata": {"annotations": {annotation: None}}}
    result: JSON = await merge_patch(client, resource, stack[0], stack[1], body, manager=ACTIONS_MANAGER)
    return result

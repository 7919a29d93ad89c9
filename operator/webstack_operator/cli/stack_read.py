"""The WebStack and the children `status` and `report` read: one reading for both commands."""

from __future__ import annotations

import asyncio
from typing import Any

from webstack_operator.kube.jsondata import JSON


async def read_stack(client: Any, namespace: str, name: str) -> tuple[JSON, list[JSON]]:
    """The WebStack and its children in its namespace (listed as the operator's watches select them), for
    the kinds the last discovery found."""
    from webstack_operator.api.group_version import API_VERSION, KIND
    from webstack_operator.kube.apply import list_objects
    from webstack_operator.kube.client import ApiError
    from webstack_operator.objects.kinds import CHILD_KINDS
    from webstack_operator.objects.labels import managed_instance_selector
    from webstack_operator.objects.ownership import members
    from webstack_operator.observe.cache import stack_of

    resource = client.resource(API_VERSION, KIND)
    if resource is None:
        raise ApiError(404, "NotFound", "the WebStack CRD (webstacks.webstack.dev) is not installed")
    ws = await client.request("GET", resource.path(namespace, name))
    kinds = [
        client.resource(row.api_version, row.kind)
        for row in CHILD_KINDS
        if row.rendered and not row.elsewhere
    ]
    # Other namespaces may not be readable; Secrets are not shown (nor read).
    listed = await asyncio.gather(
        *(
            list_objects(client, r, namespace, managed_instance_selector(name))
            for r in kinds
            if r is not None and r.kind != "Secret"
        )
    )
    found = [o for items in listed for o in items if stack_of(o) == (namespace, name)]
    return ws, members(found, namespace, ws["metadata"]["uid"])  # its own by UID, as the operator's

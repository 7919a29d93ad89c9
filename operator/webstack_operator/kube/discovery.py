"""What the cluster serves, in two requests where the apiserver offers aggregated discovery.

Since Kubernetes 1.30 (beta from 1.26) `/api` and `/apis` answer with every group, version and resource at
once when asked for `apidiscovery.k8s.io/v2` `APIGroupDiscoveryList` (what kubectl and client-go ask for):
two requests a minute instead of one per group version (dozens with Argo, Prometheus Operator, Velero...).
A server that does not offer it answers the plain `APIVersions` / `APIGroupList`, and then each group
version is fetched on its own, as before.

Unknown is not absent: an aggregated group version marked `freshness: Stale` (an aggregated API whose
backend did not answer the apiserver) or a per-group-version fetch that failed is reported as failed, and
the caller keeps what it served at the last look.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from webstack_operator.kube.jsondata import JSON

AGGREGATED = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
ACCEPT = f"{AGGREGATED},application/json"  # the plain documents from a server without it
Row = tuple[str, str, str, str, bool]  # group, version, kind, plural, namespaced
Get = Callable[[str, str], Awaitable[JSON]]  # path, Accept -> the document


def aggregated(document: JSON) -> bool:
    return document.get("kind") == "APIGroupDiscoveryList"


def rows_from_aggregated(document: JSON) -> tuple[list[Row], set[str]]:
    """Every resource of an APIGroupDiscoveryList (subresources are nested, so left out by construction);
    and the group versions it marks Stale."""
    rows: list[Row] = []
    stale: set[str] = set()
    for group in document.get("items") or []:
        name = (group.get("metadata") or {}).get("name", "")
        for entry in group.get("versions") or []:
            version = entry["version"]
            if entry.get("freshness") == "Stale":
                stale.add(f"{name}/{version}" if name else version)
                continue
            for r in entry.get("resources") or []:
                kind = (r.get("responseKind") or {}).get("kind")
                if kind:
                    rows.append((name, version, kind, r["resource"], r.get("scope") == "Namespaced"))
    return rows, stale


def rows_from_resource_list(group: str, version: str, document: JSON) -> list[Row]:
    """An APIResourceList (one group version's own document), without subresources."""
    return [
        (group, version, r["kind"], r["name"], bool(r.get("namespaced")))
        for r in document.get("resources") or []
        if "/" not in r["name"]  # subresources: deployments/status, pods/log
    ]


async def fetch(get: Get) -> tuple[list[Row], set[str]]:
    """Every served resource, and the group versions whose answer is unknown. The core API failing is the
    whole discovery failing (its error is raised): nothing is known then."""
    core = await get("/api", ACCEPT)
    if aggregated(core):
        rows, failed = rows_from_aggregated(core)
    else:
        rows, failed = rows_from_resource_list("", "v1", await get("/api/v1", "application/json")), set()
    groups = await get("/apis", ACCEPT)
    if aggregated(groups):
        more, stale = rows_from_aggregated(groups)
        return rows + more, failed | stale
    versions = [(g["name"], v["version"]) for g in groups.get("groups") or [] for v in g["versions"]]
    results = await asyncio.gather(
        *(get(f"/apis/{g}/{v}", "application/json") for g, v in versions), return_exceptions=True
    )
    for (group, version), result in zip(versions, results, strict=True):
        if isinstance(result, dict):
            rows.extend(rows_from_resource_list(group, version, result))
        elif isinstance(result, Exception):
            failed.add(f"{group}/{version}")
        else:
            raise result  # a cancellation: not a failed group
    return rows, failed

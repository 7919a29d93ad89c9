"""The discovery documents the fake serves, all built from wire.RESOURCES.

APIVersions, APIGroupList, APIResourceLists and aggregated discovery (apidiscovery.k8s.io/v2).

`metrics.k8s.io/v1beta1` is listed in every one but has no resources of its own: its APIResourceList
answers 503 (server.py), and aggregated discovery marks it Stale, as for an aggregated API whose backend
is down.
"""

from __future__ import annotations

from collections.abc import Collection

from tests.support.fake_apiserver.wire import BROKEN_GROUP_VERSION, JSON, RESOURCES

AGGREGATED_CONTENT_TYPE = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"


def api_versions() -> JSON:
    return {"kind": "APIVersions", "versions": ["v1"]}


def resource_list(group_version: str) -> JSON:
    return {"kind": "APIResourceList", "groupVersion": group_version, "resources": RESOURCES[group_version]}


def group_list() -> JSON:
    groups: dict[str, list[str]] = {}
    for gv in [*RESOURCES, BROKEN_GROUP_VERSION]:
        if "/" in gv:
            group, version = gv.split("/")
            groups.setdefault(group, []).append(version)
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [
            {
                "name": name,
                "versions": [{"groupVersion": f"{name}/{v}", "version": v} for v in versions],
                "preferredVersion": {"groupVersion": f"{name}/{versions[0]}", "version": versions[0]},
            }
            for name, versions in groups.items()
        ],
    }


def aggregated_discovery(*, core: bool, stale: Collection[str]) -> JSON:
    """The legacy group (`core`, for /api) or the named groups (/apis), with `stale` group versions
    marked Stale."""
    groups: dict[str, list[JSON]] = {}
    for gv in [*RESOURCES, BROKEN_GROUP_VERSION]:
        if ("/" not in gv) != core:
            continue
        group, _, version = gv.rpartition("/")
        entry = {"version": version, "resources": _aggregated_resources(gv, group, version)}
        entry["freshness"] = "Stale" if gv in stale else "Current"
        groups.setdefault(group, []).append(entry)
    return {
        "kind": "APIGroupDiscoveryList",
        "apiVersion": "apidiscovery.k8s.io/v2",
        "metadata": {},
        "items": [{"metadata": {"name": name}, "versions": versions} for name, versions in groups.items()],
    }


def _aggregated_resources(gv: str, group: str, version: str) -> list[JSON]:
    """A group version's resources, each with its subresources folded in, as aggregated discovery lists
    them; the broken group version lists the pods its APIResourceList would."""
    return [
        {
            "resource": r["name"],
            "responseKind": {"group": group, "version": version, "kind": r["kind"]},
            "scope": "Namespaced" if r["namespaced"] else "Cluster",
            "verbs": r["verbs"],
            "subresources": [
                {"subresource": sub["name"].split("/", 1)[1], "verbs": ["get"]}
                for sub in RESOURCES.get(gv, [])
                if sub["name"].startswith(r["name"] + "/")
            ],
        }
        for r in RESOURCES.get(gv, [{"name": "pods", "kind": "PodMetrics", "namespaced": True, "verbs": []}])
        if "/" not in r["name"]
    ]

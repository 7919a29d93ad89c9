"""The apiserver's wire format as the fake speaks it: Status, kinds, paths, selectors and merge patches.

Also what one list or watch selects. Shared by the discovery documents (discovery.py) and the object store
(server.py), so both describe the same resources.
"""

from __future__ import annotations

import asyncio
import copy
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

JSON = dict[str, Any]
Key = tuple[str, str, str, str]  # groupVersion, plural, namespace ("" when cluster-scoped), name


def status(code: int, reason: str, message: str) -> JSON:
    """A failure the way the apiserver reports one."""
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def error(code: int, reason: str, message: str) -> web.Response:
    """That failure as the answer to a request."""
    return web.json_response(status(code, reason, message), status=code)


def _resource(name: str, kind: str, *, namespaced: bool = True) -> JSON:
    return {"name": name, "singularName": "", "namespaced": namespaced, "kind": kind, "verbs": ["get"]}


RESOURCES: dict[str, list[JSON]] = {
    "v1": [
        _resource("configmaps", "ConfigMap"),
        _resource("secrets", "Secret"),
        _resource("namespaces", "Namespace", namespaced=False),
        _resource("pods", "Pod"),
        _resource("pods/log", "Pod"),
    ],
    "apps/v1": [
        _resource("deployments", "Deployment"),
        _resource("deployments/status", "Deployment"),
        _resource("deployments/scale", "Scale"),
    ],
    "rbac.authorization.k8s.io/v1": [_resource("clusterroles", "ClusterRole", namespaced=False)],
    "monitoring.coreos.com/v1": [_resource("servicemonitors", "ServiceMonitor")],
}
BROKEN_GROUP_VERSION = "metrics.k8s.io/v1beta1"
KINDS = {(gv, r["name"]): r["kind"] for gv, resources in RESOURCES.items() for r in resources}
OBJECT_PATH = re.compile(
    r"/(?:api/(?P<core>v1)|apis/(?P<gv>[^/]+/[^/]+))(?:/namespaces/(?P<namespace>[^/]+))?"
    r"/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?P<status>/status)?"
)


def selector(query: str) -> dict[str, str]:
    """A `labelSelector` of `key=value` (or `key==value`) terms."""
    terms = (term.replace("==", "=").split("=", 1) for term in query.split(",") if term)
    return {k.strip(): v.strip() for k, v in terms}


def merge(target: JSON, patch: JSON) -> JSON:
    """RFC 7386 merge patch."""
    for k, v in patch.items():
        if v is None:
            target.pop(k, None)
        elif isinstance(v, dict) and isinstance(target.get(k), dict):
            merge(target[k], v)
        else:
            target[k] = copy.deepcopy(v)
    return target


@dataclass
class Selection:
    """What one list or watch asks for; a watch's events wait in its queue (None ends it)."""

    group_version: str
    plural: str
    namespace: str | None
    selector: dict[str, str]
    queue: asyncio.Queue[JSON | None] = field(default_factory=asyncio.Queue)

    def sees(self, key: Key, obj: JSON) -> bool:
        labels = obj.get("metadata", {}).get("labels") or {}
        return (
            key[:2] == (self.group_version, self.plural)
            and self.namespace in (None, key[2])
            and all(labels.get(k) == v for k, v in self.selector.items())
        )

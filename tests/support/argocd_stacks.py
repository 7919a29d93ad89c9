"""Recorded WebStacks for deploy/argocd's Lua fixtures, their status computed by the operator's own code.

Argo CD's customizations are tested on objects in `testdata/`, as upstream does. Written by hand, those
objects would say what someone thought the operator writes; here each status comes from `compute_status`
(or, for an invalid spec, `invalid_spec_status`) on observed children, so a change in what the operator
writes changes the fixtures, and tests/unit/delivery/test_argocd_lua.py fails until they are rewritten
(`python -m tests.support.argocd_stacks`) and the expected health reviewed. The edge cases the operator
does not produce by itself (no status yet, a spec not yet observed, `Pending`) are derived by hand.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from webstack_operator.api.problem import Problem
from webstack_operator.api.spec import parse_spec
from webstack_operator.reconcile.decisions import invalid_spec_status
from webstack_operator.status.compute import Observed, compute_status

ROOT = Path(__file__).resolve().parents[2]
CUSTOMIZATION = ROOT / "deploy" / "argocd" / "resource_customizations" / "webstack.dev" / "WebStack"
HEALTH_DATA = CUSTOMIZATION / "testdata"
ACTION_DATA = CUSTOMIZATION / "actions" / "testdata"

NOW = "2026-11-26T00:00:00Z"
LATER = "2026-11-26T00:05:00Z"
URL = "https://shop.example.com"
FORBIDDEN = 'pods "shop-backend-7d9c" is forbidden: no PriorityClass with name webstack-high was found'
SPEC: dict[str, Any] = {"backend": {"image": "ghcr.io/webstack-dev/users-api:0.1.0"}}
EXTERNAL_SPEC: dict[str, Any] = {
    **SPEC,
    "database": {"mode": "External", "credentials": {"secretRef": {"name": "rds"}}},
    "cache": {"mode": "Disabled"},
}
INVALID = "spec.ingress.host: shop.example.com is already served by WebStack shop-old in namespace shop"


def _workload(name: str, ready: int, desired: int, kind: str = "Deployment") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name, "generation": 1},
        "spec": {
            "replicas": desired,
            "template": {"spec": {"containers": [{"name": "c", "image": f"{name}:1"}]}},
        },
        "status": {
            "observedGeneration": 1,
            "availableReplicas": ready,
            "readyReplicas": ready,
            "updatedReplicas": ready,
        },
    }


def _all_ready(generation: int) -> Observed:
    return Observed(
        generation=generation,
        backend=_workload("shop-backend", 2, 2),
        frontend=_workload("shop-frontend", 2, 2),
        database=_workload("shop-postgres", 1, 1, kind="StatefulSet"),
        cache=_workload("shop-redis", 1, 1),
        url=URL,
    )


def _failing_backend() -> dict[str, Any]:
    backend = _workload("shop-backend", 0, 2)
    condition = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": FORBIDDEN}
    backend["status"]["conditions"] = [condition]
    return backend


def webstack(spec: dict[str, Any], generation: int, status: dict[str, Any] | None) -> dict[str, Any]:
    """A WebStack as `kubectl get -o yaml` shows it (the fields a customization reads)."""
    obj: dict[str, Any] = {
        "apiVersion": "webstack.dev/v1alpha1",
        "kind": "WebStack",
        "metadata": {"name": "shop", "namespace": "shop", "generation": generation, "uid": "6f1c2d3e-uid"},
        "spec": copy.deepcopy(spec),
    }
    if status is not None:
        obj["status"] = status
    return obj


def _computed(
    spec: dict[str, Any], observed: Observed, previous: dict[str, Any] | None = None
) -> dict[str, Any]:
    status = compute_status(parse_spec({"spec": spec}), observed, previous, LATER if previous else NOW)
    return webstack(spec, observed.generation, status)


def health_objects() -> dict[str, dict[str, Any]]:
    """One WebStack per phase the operator writes, and the edge cases; by fixture file stem."""
    ready = _computed(SPEC, _all_ready(3))
    paused_spec = {**SPEC, "paused": True}
    progressing = _computed(SPEC, replace(_all_ready(3), backend=_failing_backend()))
    lost = _computed(SPEC, replace(_all_ready(3), backend=_failing_backend()), ready["status"])
    problem = Problem(
        "ApiError", "Deployment shop-backend: the server answered 500 (HTTP 500); retrying with backoff"
    )
    reconcile_failed = _computed(SPEC, replace(_all_ready(3), problem=problem))
    failed = webstack(SPEC, 4, invalid_spec_status(ready["status"], INVALID, 4, LATER))
    unobserved = webstack(SPEC, 4, copy.deepcopy(ready["status"]))  # edited; the operator has not seen it yet
    pending = webstack(SPEC, 1, {"phase": "Pending", "observedGeneration": 1})
    return {
        "ready": ready,
        "progressing": progressing,
        "degraded-component-lost": lost,
        "degraded-reconcile-failed": reconcile_failed,
        "failed-invalid-spec": failed,
        "paused": _computed(paused_spec, _all_ready(2)),
        "no-status": webstack(SPEC, 1, None),
        "generation-not-observed": unobserved,
        "pending": pending,
    }


def _annotated(obj: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    out["metadata"]["annotations"] = {**out["metadata"].get("annotations", {}), key: value}
    return out


# What an action writes is the time of the request: expected outputs carry this in its place.
REQUEST_TIME = "<request time>"


def action_objects() -> dict[str, dict[str, Any]]:
    """The inputs of discovery.lua and action.lua, and the objects each action is expected to return."""
    health = health_objects()
    ready, paused = health["ready"], health["paused"]
    noted = _annotated(ready, "kubectl.kubernetes.io/last-applied-configuration", "{}")
    return {
        "ready": ready,
        "paused": paused,
        "rotation-requested": _annotated(ready, "webstack.dev/regenerate-credentials", "1764115200"),
        "restart-requested": _annotated(ready, "webstack.dev/restart-backend", "2026-11-26T00:00:00Z"),
        "annotated": noted,
        "nothing-generated": _computed(EXTERNAL_SPEC, replace(_all_ready(1), database=None, cache=None)),
        "ready-restarted": _annotated(ready, "webstack.dev/restart-backend", REQUEST_TIME),
        "ready-rotated": _annotated(ready, "webstack.dev/regenerate-credentials", REQUEST_TIME),
        "annotated-restarted": _annotated(noted, "webstack.dev/restart-backend", REQUEST_TIME),
    }


def fixture_text(obj: dict[str, Any]) -> str:
    header = "# Generated by `python -m tests.support.argocd_stacks` from the operator's code: do not edit.\n"
    return header + yaml.safe_dump(obj, sort_keys=False, width=120)


def expected_files() -> dict[Path, str]:
    """Every fixture file and the text it must hold."""
    files = {HEALTH_DATA / f"{stem}.yaml": fixture_text(o) for stem, o in health_objects().items()}
    files.update({ACTION_DATA / f"{stem}.yaml": fixture_text(o) for stem, o in action_objects().items()})
    return files


if __name__ == "__main__":
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(ROOT)}")

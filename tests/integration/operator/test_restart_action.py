"""`webstack.dev/restart-backend` (Argo CD's `restart` action on a WebStack, deploy/argocd): the operator
rolls the backend once per request, says so, and removes the annotation; the same request again rolls
nothing, and its own apply never takes the restart back."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, events, get_json, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from webstack_operator.reconcile.credentials_rules import RESTARTED_AT
from webstack_operator.reconcile.restart_action import RESTART_ANNOTATION, RESTARTED_FOR

pytestmark = pytest.mark.cluster

MINIMAL: dict[str, Any] = {"backend": {"image": "ghcr.io/webstack-dev/users-api:0.1.0"}}
REQUEST = "2026-12-06T21:00:00Z"


def _consumed(cluster: KubeTarget, ns: str) -> dict[str, Any]:
    return eventually(
        lambda: get_json(cluster, "webstack", "shop", "-n", ns),
        until=lambda ws: RESTART_ANNOTATION not in (ws["metadata"].get("annotations") or {}),
        timeout=60,
        what="the restart request consumed",
    )


def _restarted(cluster: KubeTarget, ns: str) -> tuple[str | None, str | None]:
    deployment = get_json(cluster, "deployment", "shop-backend", "-n", ns)
    template = deployment["spec"]["template"]["metadata"].get("annotations") or {}
    return template.get(RESTARTED_AT), (deployment["metadata"].get("annotations") or {}).get(RESTARTED_FOR)


def test_a_restart_request_rolls_the_backend_once_and_goes(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", MINIMAL)
    wait_phase(platform, namespace, "shop")
    assert _restarted(platform, namespace) == (None, None)

    platform.kubectl("annotate", "webstack", "shop", "-n", namespace, f"{RESTART_ANNOTATION}={REQUEST}")
    _consumed(platform, namespace)
    restarted_at, restarted_for = _restarted(platform, namespace)
    assert restarted_at and restarted_for == REQUEST
    said = [e for e in events(platform, namespace, "shop") if e["reason"] == "BackendRestarted"]
    assert len(said) == 1 and REQUEST in said[0]["message"], said

    # The same request again (a retry after the annotation's removal failed, say): nothing rolls.
    platform.kubectl("annotate", "webstack", "shop", "-n", namespace, f"{RESTART_ANNOTATION}={REQUEST}")
    _consumed(platform, namespace)
    # A spec change reconciles every child: the operator's apply keeps the restart.
    apply_webstack(platform, namespace, "shop", {**MINIMAL, "cache": {"ttlSeconds": 60}})
    wait_phase(platform, namespace, "shop")
    assert _restarted(platform, namespace) == (restarted_at, REQUEST)
    said = [e for e in events(platform, namespace, "shop") if e["reason"] == "BackendRestarted"]
    assert len(said) == 1, said

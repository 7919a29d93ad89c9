"""A generation the apiserver refused is never partly applied: not by the reconcile that found it refused,
nor by any later one (a child changed or deleted, an operator restart), until the spec changes again.

The refused edit here changes the backend's replicas, the Services (an Ingress class other than `alb` drops
their ALB health-check annotation) and the NetworkPolicies (`ingress.sourceCidrs`), and adds an Ingress
annotation whose key the CRD admits but the apiserver refuses. Every child must keep the content of the
last accepted generation: its `webstack.dev/desired-hash` (stamped on every write) must not move.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, condition, events, get_json, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
DESIRED_HASH = "webstack.dev/desired-hash"
ACCEPTED: dict[str, Any] = {
    "backend": {"image": IMAGE, "replicas": 2},
    "ingress": {"enabled": True, "host": "shop.example.com"},
    "monitoring": {"enabled": False},
}
REFUSED: dict[str, Any] = {
    "backend": {"image": IMAGE, "replicas": 3},
    "ingress": {
        "enabled": True,
        "host": "shop.example.com",
        "className": "public",
        "sourceCidrs": ["10.1.0.0/16"],
        "annotations": {"bad key!": "x"},
    },
    "monitoring": {"enabled": False},
}
FIXED: dict[str, Any] = {
    **REFUSED,
    "ingress": {k: v for k, v in REFUSED["ingress"].items() if k != "annotations"},
}
KINDS = "serviceaccounts,configmaps,services,deployments,networkpolicies,poddisruptionbudgets,ingresses"


def _children(cluster: KubeTarget, ns: str) -> dict[tuple[str, str], dict[str, Any]]:
    selector = "app.kubernetes.io/instance=shop,app.kubernetes.io/managed-by=webstack-operator"
    items = get_json(cluster, KINDS, "-n", ns, "-l", selector)["items"]
    return {(i["kind"], i["metadata"]["name"]): i for i in items}


def _written(cluster: KubeTarget, ns: str) -> dict[tuple[str, str], str]:
    """Which rendered content each child carries: the hash the operator stamps on every write."""
    return {
        k: (v["metadata"].get("annotations") or {}).get(DESIRED_HASH, "")
        for k, v in _children(cluster, ns).items()
    }


def _invalid(operator: OperatorProcess) -> float:
    """Reconciles this operator process finished on a spec it found invalid (only this test makes one)."""
    return operator.metric("webstack_reconcile_total", result="invalid_spec")


def _reconciled_again(operator: OperatorProcess, before: float) -> None:
    """Waits for the operator to finish another reconcile that found the spec invalid."""
    eventually(
        lambda: _invalid(operator),
        until=lambda n: n > before,
        timeout=60,
        what="another reconcile of the refused generation",
    )


def _still_refused(cluster: KubeTarget, ns: str, accepted: dict[tuple[str, str], str]) -> None:
    now = _written(cluster, ns)
    changed = {k: (accepted[k], v) for k, v in now.items() if k in accepted and accepted[k] != v}
    assert not changed, f"refused generation written into: {sorted(changed)}"
    backend = get_json(cluster, "deployment", "shop-backend", "-n", ns)
    assert backend["spec"]["replicas"] == 2
    ws = get_json(cluster, "webstack", "shop", "-n", ns)
    assert ws["status"]["phase"] == "Failed"
    assert ws["status"]["observedGeneration"] == ws["metadata"]["generation"]
    ready = condition(ws, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "InvalidSpec"), ready


def test_a_refused_generation_is_never_partly_applied_later(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", ACCEPTED)
    wait_phase(platform, namespace, "shop", timeout=120)
    accepted = _written(platform, namespace)
    assert ("Deployment", "shop-backend") in accepted and ("Ingress", "shop") in accepted

    apply_webstack(platform, namespace, "shop", REFUSED)
    ws = wait_phase(platform, namespace, "shop", phase="Failed")
    assert condition(ws, "Ready")["reason"] == "InvalidSpec"
    _still_refused(platform, namespace, accepted)

    # A child changed by someone: its event reconciles the stack, which must not write the refused content.
    before = _invalid(operator)
    platform.kubectl("annotate", "configmap", "shop-frontend", "-n", namespace, "example.com/touched=1")
    _reconciled_again(operator, before)
    _still_refused(platform, namespace, accepted)

    # A child deleted: nothing of the refused generation is written, the deleted child included.
    before = _invalid(operator)
    platform.kubectl("delete", "poddisruptionbudget", "shop-frontend", "-n", namespace)
    _reconciled_again(operator, before)
    _still_refused(platform, namespace, accepted)
    assert ("PodDisruptionBudget", "shop-frontend") not in _children(platform, namespace)

    # A restart: status is the only memory that survives it.
    operator.stop()
    operator.start()
    _reconciled_again(operator, 0)
    _still_refused(platform, namespace, accepted)
    warnings = [e for e in events(platform, namespace, "shop") if e["reason"] == "InvalidSpec"]
    assert len(warnings) == 1, warnings  # one per generation, not one per reconcile

    # The spec fixed: the whole new generation is applied, the deleted child restored.
    apply_webstack(platform, namespace, "shop", FIXED)
    wait_phase(platform, namespace, "shop", timeout=120)
    assert get_json(platform, "deployment", "shop-backend", "-n", namespace)["spec"]["replicas"] == 3
    assert ("PodDisruptionBudget", "shop-frontend") in _children(platform, namespace)

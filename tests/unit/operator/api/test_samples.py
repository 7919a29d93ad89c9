"""The samples in deploy/samples/ parse, and render the objects their comments promise."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from webstack_operator.api.spec import parse_spec
from webstack_operator.cli.main import render_file

SAMPLES = Path(__file__).parents[4] / "deploy" / "samples"
ALL = sorted(SAMPLES.glob("*.yaml"))


def _kinds(path: Path) -> set[str]:
    return {o["kind"] for o in render_file(str(path))}


def test_samples_exist() -> None:
    names = {p.name for p in ALL}
    assert {"webstack-minimal.yaml", "webstack-full.yaml", "webstack-demo.yaml"} <= names


@pytest.mark.parametrize("path", ALL, ids=lambda p: p.name)
def test_sample_parses(path: Path) -> None:
    doc: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert doc["apiVersion"] == "webstack.dev/v1alpha1" and doc["kind"] == "WebStack"
    parse_spec(doc)


def test_minimal_is_minimal() -> None:
    doc = yaml.safe_load((SAMPLES / "webstack-minimal.yaml").read_text(encoding="utf-8"))
    assert doc["spec"] == {"backend": {"image": doc["spec"]["backend"]["image"]}}


def test_full_turns_every_feature_on() -> None:
    kinds = _kinds(SAMPLES / "webstack-full.yaml")
    assert {
        "Rollout",
        "AnalysisTemplate",
        "HorizontalPodAutoscaler",
        "Ingress",
        "ExternalSecret",
        "Schedule",
        "ServiceMonitor",
        "PrometheusRule",
        "NetworkPolicy",
        "PodDisruptionBudget",
    } <= kinds
    spec = parse_spec(yaml.safe_load((SAMPLES / "webstack-full.yaml").read_text(encoding="utf-8")))
    assert spec.security.priority_class_name == "webstack-high"
    assert spec.backend.iam_role_arn is not None and spec.ingress.certificate_arn is not None


def test_full_sealed_uses_a_sealed_secret() -> None:
    assert "SealedSecret" in _kinds(SAMPLES / "webstack-full-sealed.yaml")


def test_demo() -> None:
    spec = parse_spec(yaml.safe_load((SAMPLES / "webstack-demo.yaml").read_text(encoding="utf-8")))
    assert spec.ingress.host == "demo.webstack.local"
    assert spec.monitoring.enabled
    assert spec.backend.delivery.strategy in ("RollingUpdate", "Canary")


def test_eks_placement_puts_stateless_pods_on_spot_and_postgres_on_demand() -> None:
    pods = {
        o["metadata"]["labels"]["app.kubernetes.io/component"]: o["spec"]["template"]["spec"]
        for o in render_file(str(SAMPLES / "webstack-eks-placement.yaml"))
        if "template" in o.get("spec", {}) and "containers" in o["spec"]["template"].get("spec", {})
    }
    assert set(pods) == {"backend", "migrate", "frontend", "database", "cache"}
    for component in ("backend", "migrate", "frontend", "cache"):
        assert pods[component]["nodeSelector"] == {"eks.amazonaws.com/capacityType": "SPOT"}, component
        assert [t["key"] for t in pods[component]["tolerations"]] == ["spot"], component
    assert pods["database"]["nodeSelector"] == {"eks.amazonaws.com/capacityType": "ON_DEMAND"}
    assert "tolerations" not in pods["database"]
    zones = [c["topologyKey"] for c in pods["backend"]["topologySpreadConstraints"]]
    assert zones == ["topology.kubernetes.io/zone", "kubernetes.io/hostname"]

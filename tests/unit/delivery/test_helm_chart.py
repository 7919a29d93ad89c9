"""charts/webstack-operator and deploy/ do not drift: `helm template` and `kustomize build` render the same
objects, up to Helm's standard labels and the two differences below; the chart lints in every ci/ variant;
its values schema types and describes every value; its `helm test` pod holds least privilege.

Which render the defaults equal: deploy/overlays/prod without its monitoring component, i.e. deploy/operator
with the released image. Not dev: dev adds `--verbose` (the chart's `extraArgs`). Not with monitoring: a
ServiceMonitor or PrometheusRule fails `helm install` on a cluster without the Prometheus Operator's CRDs, so
the chart's `monitoring.enabled` is off by default and, turned on, renders prod exactly.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.helm_chart import (
    CHART,
    NAMESPACE,
    ROOT,
    by_key,
    helm,
    helm_template,
    image_values,
    kustomize,
    require,
    run,
)

OVERLAYS = ROOT / "deploy" / "overlays"
MONITORING_KINDS = {"ServiceMonitor", "PrometheusRule"}
CRD_KEY = ("CustomResourceDefinition", "", "webstacks.webstack.dev")
# What differs, and why; nothing else may.
# 1. The Namespace: Helm installs into a namespace that exists (or `--create-namespace`); a release owning
#    its own namespace would delete it, and everything in it, on uninstall. README "Install" creates it with
#    the Pod Security labels deploy/operator/namespace.yaml sets.
ONLY_KUSTOMIZE = {("Namespace", "", NAMESPACE)}
# 2. The CRD's `helm.sh/resource-policy: keep` (crds.keep): `helm uninstall` must not delete every WebStack.
#    (kubectl never deletes what it applied, so deploy/ needs no such annotation.)
KEEP = "helm.sh/resource-policy"

CASES = {
    # name: (overlay, chart flags, drop the monitoring component from the kustomize render)
    "defaults=prod-without-monitoring": ("prod", [], True),
    "monitoring=prod": ("prod", ["--set", "monitoring.enabled=true"], False),
    "dev": ("dev", ["--set", "monitoring.enabled=true", "--set", "extraArgs={--verbose}"], False),
    "namespaced": ("namespaced", ["-f", str(CHART / "ci" / "namespaced-values.yaml")], False),
    # The lab: image, placement and operand images from ci/lab-values.yaml (the overlay has no `images:`).
    "lab": ("lab", ["-f", str(CHART / "ci" / "lab-values.yaml"), "--set", "monitoring.enabled=true"], False),
}


@pytest.mark.parametrize("case", CASES)
def test_the_chart_renders_what_kustomize_renders(case: str) -> None:
    overlay, flags, without_monitoring = CASES[case]
    images = [] if overlay == "lab" else image_values(OVERLAYS / overlay)
    chart = by_key(helm_template(*images, *flags))
    deploy = by_key(
        d for d in kustomize(OVERLAYS / overlay) if not (without_monitoring and d["kind"] in MONITORING_KINDS)
    )
    assert set(chart) - set(deploy) == set(), "the chart renders objects deploy/ does not"
    assert set(deploy) - set(chart) == ONLY_KUSTOMIZE
    annotations = chart[CRD_KEY]["metadata"]["annotations"]
    assert annotations.pop(KEEP) == "keep"
    differing = sorted(str(k) for k in set(chart) & set(deploy) if chart[k] != deploy[k])
    assert differing == [], f"the chart and deploy/overlays/{overlay} differ in {differing}"


def test_the_defaults_add_only_helms_standard_labels() -> None:
    """The normalisation above removes four labels and nothing else; here they are, on every object."""
    for doc in helm_template():
        labels = doc["metadata"]["labels"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", doc["kind"]
        assert labels["helm.sh/chart"].startswith("webstack-operator-")


def test_the_crd_is_read_from_the_generated_file_and_kept() -> None:
    """files/ links to crds/ (one source); `crds.create=false` leaves the CRD to someone else."""
    generated = yaml.safe_load((ROOT / "crds" / "webstack.dev_webstacks.yaml").read_text())
    [crd] = [d for d in helm_template() if d["kind"] == "CustomResourceDefinition"]
    assert crd["spec"] == generated["spec"]
    link = CHART / "files" / "webstack.dev_webstacks.yaml"
    assert link.is_symlink() and link.resolve() == ROOT / "crds" / "webstack.dev_webstacks.yaml"
    assert not [d for d in helm_template("--set", "crds.create=false") if d["kind"] == crd["kind"]]
    [unkept] = [d for d in helm_template("--set", "crds.keep=false") if d["kind"] == crd["kind"]]
    assert KEEP not in unkept["metadata"]["annotations"]


def values_files() -> list[Path]:
    return [CHART / "values.yaml", *sorted((CHART / "ci").glob("*-values.yaml"))]


@pytest.mark.parametrize("values", values_files(), ids=lambda p: p.name)
def test_helm_lint_passes(values: Path) -> None:
    run([require(helm, "helm"), "lint", "--strict", CHART, "-f", values])


def test_every_value_is_typed_and_described() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    defaults = yaml.safe_load((CHART / "values.yaml").read_text())
    undescribed = list(_undescribed(schema, "values"))
    assert undescribed == []
    assert list(_outside(defaults, schema, "")) == []


def _undescribed(schema: dict[str, Any], where: str) -> list[str]:
    found = [where] if not ("type" in schema and schema.get("description")) else []
    for name, sub in schema.get("properties", {}).items():
        found += _undescribed(sub, f"{where}.{name}")
    if isinstance(schema.get("items"), dict):
        found += _undescribed(schema["items"], f"{where}[]")
    return found


def _outside(value: Any, schema: dict[str, Any], where: str) -> list[str]:
    """Keys of values.yaml the schema does not name (its free-form maps excepted)."""
    if not isinstance(value, dict) or "properties" not in schema:
        return []
    found = []
    for name, sub in value.items():
        if name not in schema["properties"]:
            found.append(f"{where}.{name}")
        else:
            found += _outside(sub, schema["properties"][name], f"{where}.{name}")
    return found


@pytest.mark.parametrize(
    "flags",
    [
        ["--set", "replicaCount=two"],
        ["--set", "rbac.scope=everywhere"],
        ["--set", "crds.crate=true"],
        ["--set", "image.digest=latest"],
        ["--set", "rbac.scope=namespaced"],  # the namespaces to serve are required
    ],
    ids=["type", "enum", "unknown-key", "pattern", "namespaced-without-namespaces"],
)
def test_bad_values_are_refused(flags: list[str]) -> None:
    binary = require(helm, "helm")
    args = [str(binary), "template", "x", str(CHART), *flags]
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0, "helm rendered values the schema should refuse"
    assert "Error:" in result.stderr


def test_the_helm_test_pod_holds_least_privilege() -> None:
    rendered = [
        d for d in helm_template(tests=True) if "helm.sh/hook" in d["metadata"].get("annotations", {})
    ]
    assert {d["metadata"]["annotations"]["helm.sh/hook"] for d in rendered} == {"test"}
    [pod] = [d for d in rendered if d["kind"] == "Pod"]
    spec = pod["spec"]
    container = spec["containers"][0]
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    assert container["command"][:2] == ["python3", "-c"]
    assert container["command"][2] == (CHART / "files" / "helm-test.py").read_text()
    # The operator's own image (python3 inside), unless tests.image names another.
    [operator] = [d for d in helm_template() if d["kind"] == "Deployment"]
    assert container["image"] == operator["spec"]["template"]["spec"]["containers"][0]["image"]
    grants = {
        (d["kind"], d["metadata"].get("namespace", "")): d["rules"]
        for d in rendered
        if d["kind"] in {"Role", "ClusterRole"}
    }
    assert grants == {
        ("Role", NAMESPACE): [{"apiGroups": [""], "resources": ["pods"], "verbs": ["list"]}],
        ("ClusterRole", ""): [
            {
                "apiGroups": ["apiextensions.k8s.io"],
                "resources": ["customresourcedefinitions"],
                "resourceNames": ["webstacks.webstack.dev"],
                "verbs": ["get"],
            }
        ],
    }

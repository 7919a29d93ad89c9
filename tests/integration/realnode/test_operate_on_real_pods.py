"""Operating WebStack on real pods (issue 27): the Helm chart installs on the real node and `helm test`
passes there (the operator answers /healthz, the CRD is Established), and `kubectl webstack report` reads
the in-cluster operator's logs and metrics from its real pods, with no password in the bundle.

On kwok neither can be shown: a kwok pod is Running with no process, so nothing answers /healthz, and the
kubelet that serves pod logs and the pod proxy is not there (tests/integration/delivery/test_helm_install.py
and tests/integration/operator/test_report.py check the rest).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.helm_chart import CHART, Release, isolated_release
from tests.support.incluster import InCluster
from tests.support.operator import OPERATOR_POD_LABEL
from tests.support.report_bundle import assert_no_password, extracted, report

from kubelocal.target import KubeTarget
from localdemo.lab_stack import node_dns_policy
from localservices.passwords import generated_passwords
from webstack_operator.telemetry import metric_names

pytestmark = pytest.mark.cluster

LAB_VALUES = CHART / "ci" / "lab-values.yaml"


@pytest.fixture
def release(cluster: KubeTarget, real_node: str, tmp_path: Path) -> Iterator[Release]:
    """The chart with the lab's values (its image, the real node's placement), in namespaces of its own and
    the namespaced mode: the package's installed operator keeps the cluster-wide role meanwhile."""
    values = ["-f", str(LAB_VALUES), "--set", "monitoring.enabled=false"]
    with isolated_release(cluster, tmp_path, values) as rel:
        # The real node enforces NetworkPolicies and its DNS is a host process: the release's pods (the
        # operator, helm test's pod) resolve kubernetes.default.svc only with the lab's allowance.
        cluster.apply(node_dns_policy(rel.namespace, {}))
        yield rel


def test_the_chart_installs_on_the_real_node_and_helm_test_passes(
    cluster: KubeTarget, real_node: str, release: Release
) -> None:
    release.helm(
        "install", release.name, str(CHART), "-n", release.namespace, "--take-ownership",
        "--wait", "--timeout", "3m", *release.values,
    )  # fmt: skip
    listed = cluster.kubectl("get", "pods", "-n", release.namespace, "-l", OPERATOR_POD_LABEL, "-o", "json")
    pods = json.loads(listed.stdout)["items"]
    assert len(pods) == 2 and {p["spec"]["nodeName"] for p in pods} == {real_node}, pods
    # --logs: the test pod's own lines (the CRD Established, each replica's /healthz) in the output.
    tested = release.helm(
        "test", release.name, "-n", release.namespace, "--timeout", "3m", "--logs", check=False
    )
    print(tested.stdout, tested.stderr)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "Succeeded" in tested.stdout, tested.stdout


def test_the_report_reads_the_in_cluster_operators_logs_and_metrics(
    installed: InCluster, demo: dict[str, Any], tmp_path: Path
) -> None:
    cluster = installed.cluster
    ns, name = demo["metadata"]["namespace"], demo["metadata"]["name"]
    zip_path = tmp_path / "report.zip"
    result = report(cluster.kubeconfig_path, name, "-n", ns, "-o", str(zip_path))
    assert result.returncode == 0, result.stderr
    files = extracted(zip_path, tmp_path / "report", "realnode")
    refusals = files["refusals.txt"]
    for pod in installed.pods():
        assert f"operator/logs/{pod.name}-operator.log" in files, (sorted(files), refusals)
        assert files[f"operator/logs/{pod.name}-operator.log"].strip(), pod.name
        assert metric_names.RECONCILE_TOTAL in files[f"operator/metrics/{pod.name}.txt"], refusals
    assert f"{name}" in files["webstack.yaml"]
    secrets = json.loads(cluster.kubectl("get", "secrets", "-n", ns, "-o", "json").stdout)
    passwords = generated_passwords(secrets)
    assert passwords, "the demo stack's generated credentials"
    assert_no_password(files, passwords, tmp_path / "report")

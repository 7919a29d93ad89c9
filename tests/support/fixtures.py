"""Session fixtures for operator tests: the WebStack and third-party CRDs installed, Argo Rollouts'
controller running beside the control plane (when built), and one operator process."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.operator import ROOT, OperatorProcess, install_webstack_crd

from kubelocal.binaries import cache_dir
from kubelocal.target import KubeTarget


def rollouts_controller_binary() -> Path | None:
    found = sorted(cache_dir().glob("argo-rollouts-*/rollouts-controller"))
    return found[-1] if found else None


@pytest.fixture(scope="session")
def platform(cluster: KubeTarget) -> KubeTarget:
    """The cluster with every CRD the operator may use, and Argo Rollouts running when available."""
    install_webstack_crd(cluster)
    cluster.install_thirdparty_crds()
    for ns in ("velero", "monitoring"):
        cluster.kubectl("create", "namespace", ns, check=False)
    # The PriorityClasses the install ships (the full sample's pods name one; admission refuses unknown ones).
    cluster.kubectl("apply", "--server-side", "-f", str(ROOT / "deploy" / "operator" / "priorityclasses.yaml"))
    binary = rollouts_controller_binary()
    if cluster.local is not None and binary is not None and "argo-rollouts" not in cluster.local.components:
        cluster.local.start_extra(
            "argo-rollouts",
            [
                str(binary),
                f"--kubeconfig={cluster.kubeconfig_path}",
                "--leader-elect=false",
                "--healthzPort=0",
                "--metricsport=0",
                "--loglevel=warn",
            ],
        )
    return cluster


@pytest.fixture(scope="session")
def operator(platform: KubeTarget, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    proc = OperatorProcess(platform.kubeconfig_path, tmp_path_factory.mktemp("operator")).start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def namespace(platform: KubeTarget) -> Iterator[str]:
    name = f"ws-{uuid.uuid4().hex[:8]}"
    platform.kubectl("create", "namespace", name)
    yield name
    platform.kubectl("delete", "namespace", name, "--wait=false", check=False)


def apply_webstack(cluster: KubeTarget, namespace: str, name: str, spec: dict[str, object]) -> None:
    doc = {
        "apiVersion": "webstack.dev/v1alpha1",
        "kind": "WebStack",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }
    cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=test",
        "--force-conflicts",
        "-f",
        "-",
        input=json.dumps(doc),
    )

"""Session fixtures for operator tests: the WebStack and third-party CRDs installed, Argo Rollouts'
controller running beside the control plane (when built), and one operator process."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.operator import ROOT, OperatorProcess, install_webstack_crd, webstack_doc

from kubelocal import leaks
from kubelocal.target import OPERATOR_CRD_PROJECTS, KubeTarget


@pytest.fixture(scope="session")
def platform(cluster: KubeTarget) -> KubeTarget:
    """The cluster with every CRD the operator may use, and Argo Rollouts running when available."""
    install_webstack_crd(cluster)
    cluster.install_thirdparty_crds(*OPERATOR_CRD_PROJECTS)
    for ns in ("velero", "monitoring"):
        cluster.kubectl("create", "namespace", ns, check=False)
    # The PriorityClasses the install ships (the full sample's pods name one; admission refuses unknown ones).
    cluster.kubectl(
        "apply", "--server-side", "-f", str(ROOT / "deploy" / "operator" / "priorityclasses.yaml")
    )
    if cluster.local is not None:
        cluster.local.start_argo_rollouts()
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
    leaks.harvest(platform.kubeconfig_path)  # the generated passwords, before they go with the namespace
    platform.kubectl("delete", "namespace", name, "--wait=false", check=False)


def apply_webstack(cluster: KubeTarget, namespace: str, name: str, spec: dict[str, object]) -> None:
    apply_doc(cluster, webstack_doc(namespace, spec, name))


def apply_doc(cluster: KubeTarget, doc: dict[str, Any]) -> None:
    """Server-side apply as a user would (manager `test`), taking over any field the test set before."""
    cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=test",
        "--force-conflicts",
        "-f",
        "-",
        input=json.dumps(doc),
    )

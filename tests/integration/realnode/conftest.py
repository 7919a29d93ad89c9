"""The real-node suites' shared pieces: the operator installed in the cluster (deploy/overlays/lab) and the
demo stack it reconciles onto real pods, once for the package (the suites run on one worker, one after the
other: tests/support/scheduling.py), since each costs real pods and tens of seconds."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.support.fixtures import apply_doc
from tests.support.incluster import InCluster, LogFollower
from tests.support.operator import OperatorProcess, wait_phase

from kubelocal import leaks
from kubelocal.pod_logs import keep_namespace_logs
from kubelocal.target import KubeTarget
from localdemo.lab_stack import lab_namespace, lab_sample


@pytest.fixture(scope="package")
def installed(platform: KubeTarget, operator: OperatorProcess, real_node: str) -> Iterator[InCluster]:
    """On any cluster with the lab images loaded and a node labelled and tainted as the lab's real node
    (deploy/overlays/lab's header says how on kind)."""
    operator.stop()  # the session's operator reconciles every namespace too
    incluster = InCluster(platform)
    logs = LogFollower(platform).start()
    try:
        started = time.monotonic()
        incluster.since = datetime.now(UTC)  # the audit checks cover every term from the first
        incluster.install()
        print(f"[figures] install to rollout complete: {time.monotonic() - started:.1f}s")
        yield incluster
    finally:
        try:
            incluster.uninstall()
        finally:
            logs.stop()
            operator.start()


@pytest.fixture(scope="package")
def demo(installed: InCluster) -> Iterator[dict[str, Any]]:
    """The demo sample on real pods, as the installed operator reconciles it."""
    cluster = installed.cluster
    namespace = f"incluster-{uuid.uuid4().hex[:6]}"
    cluster.apply(lab_namespace(namespace))
    doc = lab_sample(namespace)
    # The demo stack, as the sample declares it: a canary, backup on a schedule.
    assert doc["spec"]["backend"]["delivery"]["strategy"] == "Canary" and doc["spec"]["backup"]["enabled"]
    try:
        started = time.monotonic()
        apply_doc(cluster, doc)
        wait_phase(cluster, namespace, doc["metadata"]["name"], timeout=300)
        print(f"[figures] demo sample applied to Ready on real pods: {time.monotonic() - started:.1f}s")
        yield doc
    finally:
        keep_namespace_logs(cluster, namespace)
        leaks.harvest(cluster.kubeconfig_path)  # its generated passwords, for the same search
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)

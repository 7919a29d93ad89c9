"""pytest fixtures for a Kubernetes API: one local control plane per session (or an existing cluster).

Under pytest-xdist each worker is a session with its own control plane; the machine's one real node is
started by the `real_node` fixture, in the worker whose tests ask for it (tests/conftest.py keeps them on
one worker).

Loaded with `-p kubelocal.pytest_plugin`. On a failing test that used the cluster, the tail of every
component's log is attached to the report.
"""

from __future__ import annotations

import os
from collections.abc import Generator, Iterator

import pytest

from kubelocal.cluster import LocalCluster
from kubelocal.process import pid_alive
from kubelocal.realnode.layout import NODE_NAME as REAL_NODE_NAME
from kubelocal.realnode.preflight import ENV as REAL_NODE_ENV
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

_LOCAL: list[LocalCluster] = []


@pytest.fixture(scope="session")
def cluster() -> Iterator[KubeTarget]:
    external = KubeTarget.from_environment()
    if external is not None:
        yield external
        external.close()
        return
    local = LocalCluster(nodes=2)
    local.start()
    _LOCAL.append(local)
    version = local.binaries.kubernetes_version
    print(f"\n[kubelocal] control plane ready in {local.startup_seconds:.1f}s ({version})")
    target = KubeTarget(local.kubeconfig_path, local=local)
    try:
        yield target
    finally:
        pids = local.pids()
        local.stop()
        target.close()
        _LOCAL.remove(local)
        eventually(
            lambda: [p for p in pids if pid_alive(p)],
            until=lambda left: not left,
            timeout=10,
            interval=0.1,
            what="no control-plane process left behind",
        )


@pytest.fixture(scope="session")
def real_node(cluster: KubeTarget) -> str:
    """The name of a node running real containers. Without one the test is skipped with the harness's
    one-line reason, unless WEBSTACK_REAL_NODE=1 (CI), where its absence is a failure. On the session's
    own control plane the node is started here, at the first test that asks."""
    local = cluster.local
    if local is not None and local.real_node is None:
        node = local.start_real_node()
        if node is not None:
            timings = ", ".join(f"{k} {v:.1f}s" for k, v in node.timings.items())
            print(f"\n[kubelocal] real node {REAL_NODE_NAME} Ready ({timings})")
        else:
            print(f"\n[kubelocal] no real node: {local.real_node_reason}; kwok nodes only")
    name = cluster.real_node()
    if name is None:
        reason = f"no real node: {cluster.real_node_absence()}"
        if os.environ.get(REAL_NODE_ENV) == "1":
            pytest.fail(f"{reason} ({REAL_NODE_ENV}=1)")
        pytest.skip(reason)
    return name


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if getattr(report, "failed", False) and "cluster" in getattr(item, "fixturenames", ()) and _LOCAL:
        report.sections.append(("control-plane logs", _LOCAL[0].tail_logs(8)))
    return report

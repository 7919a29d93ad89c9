"""faultproxy in front of a real kube-apiserver: kubectl works through it with an ordinary kubeconfig, a watch
streams through it event by event, and a scripted 503 on one path reaches the client."""

from __future__ import annotations

import base64
import json
import subprocess
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

from faultproxy import WATCH_QUERY, FaultProxy, identity_of
from kubelocal.cluster import run_kubectl
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster


@dataclass
class Proxied:
    proxy: FaultProxy
    kubeconfig: Path
    token: str
    kubectl_path: Path
    cache_dir: Path

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """kubectl through the proxy, its discovery cache kept out of $HOME."""
        return run_kubectl(
            self.kubectl_path, self.kubeconfig, (f"--cache-dir={self.cache_dir}", *args), None, check, 60
        )


def _upstream(cluster: KubeTarget, scratch: Path) -> tuple[str, Path | None, str]:
    """The apiserver's URL, the CA that signed it and an admin's bearer token."""
    if cluster.local is not None:
        return cluster.local.server_url, cluster.local.ca_path, cluster.local.admin_token
    raw = json.loads(cluster.kubectl("config", "view", "--raw", "--minify", "--flatten", "-o", "json").stdout)
    token = raw["users"][0]["user"].get("token")
    if not token:
        pytest.skip(
            "this kubeconfig has no bearer token; a client certificate cannot pass a TLS-ending proxy"
        )
    server = raw["clusters"][0]["cluster"]
    ca: Path | None = None
    if "certificate-authority-data" in server:
        ca = scratch / "upstream-ca.crt"
        ca.write_bytes(base64.b64decode(server["certificate-authority-data"]))
    return server["server"], ca, token


@pytest.fixture(scope="module")
def proxied(cluster: KubeTarget, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    scratch = tmp_path_factory.mktemp("faultproxy")
    server, ca, token = _upstream(cluster, scratch)
    with FaultProxy(server, ca, pki_dir=scratch / "pki") as proxy:
        kubeconfig = proxy.kubeconfig(token, scratch / "proxy.kubeconfig")
        yield Proxied(proxy, kubeconfig, token, cluster.kubectl_path, scratch / "kube-cache")


@pytest.fixture
def namespace(cluster: KubeTarget) -> Iterator[str]:
    name = f"fp-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false")


def test_kubectl_works_through_the_proxy(proxied: Proxied) -> None:
    names = proxied.kubectl("get", "namespaces", "-o", "name").stdout.split()
    assert "namespace/default" in names and "namespace/kube-system" in names

    lists = proxied.proxy.requests(method="GET", path_re=r"/api/v1/namespaces$", user_agent_re="^kubectl/")
    assert lists and lists[-1].status == 200 and lists[-1].fault is None
    assert lists[-1].identity == identity_of(proxied.token)  # whose request it was, by the token's hash
    assert all(proxied.token not in repr(r) for r in proxied.proxy.requests())


def _collect_lines(stream: IO[str], into: list[str]) -> None:
    into.extend(iter(stream.readline, ""))


def _wait_printed(printed: list[str], line: str) -> None:
    eventually(
        lambda: list(printed), until=lambda lines: line in lines, what=f"{line!r} printed by the watch"
    )


def test_a_watch_streams_through_the_proxy(proxied: Proxied, cluster: KubeTarget, namespace: str) -> None:
    watch = subprocess.Popen(
        [
            str(proxied.kubectl_path),
            f"--kubeconfig={proxied.kubeconfig}",
            f"--cache-dir={proxied.cache_dir}",
            "get",
            "configmaps",
            "-n",
            namespace,
            "--watch",
            "-o",
            "name",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert watch.stdout is not None and watch.stderr is not None
    printed: list[str] = []
    reader = threading.Thread(target=_collect_lines, args=(watch.stdout, printed), daemon=True)
    reader.start()
    try:
        watches = f"/api/v1/namespaces/{namespace}/configmaps"
        eventually(
            lambda: proxied.proxy.requests(path_re=watches, query_re=WATCH_QUERY),
            until=lambda seen: any(r.status == 200 for r in seen),
            what="kubectl's watch open through the proxy",
        )
        for name in ("first", "second"):
            cluster.kubectl("create", "configmap", name, "-n", namespace)
            _wait_printed(printed, f"configmap/{name}\n")
        # Both events came through one watch request that is still open: streamed, not buffered.
        (open_watch,) = proxied.proxy.requests(path_re=watches, query_re=WATCH_QUERY)
        assert open_watch.status == 200 and not open_watch.done
    finally:
        watch.terminate()
        watch.wait(10)
        reader.join(10)
        watch.stdout.close()
        watch.stderr.close()


def test_a_scripted_503_on_one_path_reaches_the_client(proxied: Proxied, namespace: str) -> None:
    fault = proxied.proxy.fail(503, method="GET", path=rf"/api/v1/namespaces/{namespace}/configmaps")
    try:
        refused = proxied.kubectl("get", "configmaps", "-n", namespace, check=False)
        assert refused.returncode != 0
        assert "ServiceUnavailable" in refused.stderr and "injected by faultproxy" in refused.stderr
        # Other paths are untouched.
        assert proxied.kubectl("get", "namespace", namespace, "-o", "name").stdout.strip() == (
            f"namespace/{namespace}"
        )
    finally:
        proxied.proxy.remove(fault)
    assert fault.hits >= 1
    assert proxied.kubectl("get", "configmaps", "-n", namespace, "-o", "name").returncode == 0
    logged = proxied.proxy.requests(path_re=rf"/api/v1/namespaces/{namespace}/configmaps", fault="status-503")
    assert logged and all(r.status == 503 for r in logged)

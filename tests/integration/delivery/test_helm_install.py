"""`helm install` of charts/webstack-operator into the session's control plane: the release's objects are
what `helm template` renders, the Deployment's two replicas come up, and `helm uninstall` removes the release
but keeps the CRD (`helm.sh/resource-policy: keep`).

The session cluster is shared with other files' tests, which install deploy/operator's cluster-scoped
objects themselves (ClusterRole, PriorityClasses, FlowSchema); a release must neither collide with them nor
delete them on uninstall. So the release is the namespaced mode, in fresh namespaces, with the
cluster-scoped parts off except the CRD, which it takes over (`--take-ownership`) to show it is kept.
The cluster-wide defaults are checked object by object against kustomize in
tests/unit/delivery/test_helm_chart.py.

`helm test` is not run here: on kwok nodes a pod is Running with no process behind it, so nothing would
answer /healthz and the test pod would never run its script (`helm test` would wait out its timeout). It
runs on the lab's real node (the lead's). What can be checked here is the test's least privilege: its
hook RBAC applied, its script run as a local process with a token of its ServiceAccount finds the CRD
Established and lists the operator pods (their kwok IPs then answer nothing), and may do nothing more.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.support.helm_chart import CHART, Release, by_key, docs, isolated_release

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

CRD = "webstacks.webstack.dev"


@pytest.fixture
def release(cluster: KubeTarget, tmp_path: Path) -> Iterator[Release]:
    cluster.install_thirdparty_crds("prometheus-operator")
    with isolated_release(cluster, tmp_path, ["--set", "monitoring.enabled=true"]) as rel:
        yield rel


def test_the_chart_installs_and_uninstalls_keeping_the_crd(cluster: KubeTarget, release: Release) -> None:
    release.helm(
        "install", release.name, str(CHART), "-n", release.namespace, "--take-ownership",
        "--wait", "--timeout", "3m", *release.values,
    )  # fmt: skip
    manifest = docs(release.helm("get", "manifest", release.name, "-n", release.namespace).stdout)
    template = docs(
        release.helm(
            "template", release.name, str(CHART), "-n", release.namespace, "--skip-tests", *release.values
        ).stdout
    )
    assert by_key(manifest) == by_key(template)
    # Every object the release holds exists, in its namespace, labelled as the release's.
    for key in by_key(manifest):
        kind, namespace, name = key
        scope = ["-n", namespace] if namespace else []
        got = json.loads(cluster.kubectl("get", kind, name, *scope, "-o", "json").stdout)
        assert got["metadata"]["annotations"]["meta.helm.sh/release-name"] == release.name, key
    [deployment] = release.objects("deployment", release.namespace)
    assert deployment["spec"]["replicas"] == 2
    eventually(
        lambda: release.objects("deployment", release.namespace)[0]["status"].get("availableReplicas", 0),
        until=lambda available: available == 2,
        timeout=120,
        what="both operator replicas available",
    )
    assert not release.objects("clusterrole"), "the namespaced mode grants nothing cluster-wide"

    release.helm("uninstall", release.name, "-n", release.namespace, "--wait")
    assert release.objects("deployment", release.namespace) == []
    crd = json.loads(cluster.kubectl("get", "crd", CRD, "-o", "json").stdout)
    assert crd["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"
    assert crd["metadata"].get("deletionTimestamp") is None


def test_the_helm_test_script_needs_only_its_grants(
    cluster: KubeTarget, release: Release, tmp_path: Path
) -> None:
    release.helm("install", release.name, str(CHART), "-n", release.namespace, "--take-ownership", "--wait",
                 *release.values)  # fmt: skip
    hooks = docs(
        release.helm(
            "template", release.name, str(CHART), "-n", release.namespace, *release.values,
            "--show-only", "templates/tests/test-operator.yaml",
        ).stdout
    )  # fmt: skip
    cluster.apply({"apiVersion": "v1", "kind": "List", "items": [d for d in hooks if d["kind"] != "Pod"]})
    account = f"system:serviceaccount:{release.namespace}:webstack-operator-test"
    for verb, resource, namespace, allowed in [
        ("get", f"customresourcedefinitions/{CRD}", None, "yes"),
        ("list", "pods", release.namespace, "yes"),
        ("get", "customresourcedefinitions/other.example.com", None, "no"),
        ("list", "secrets", release.namespace, "no"),
        ("list", "pods", "kube-system", "no"),
        ("create", "pods", release.namespace, "no"),
    ]:
        scope = ["-n", namespace] if namespace else []
        said = cluster.kubectl("auth", "can-i", verb, resource, *scope, "--as", account, check=False)
        assert said.stdout.strip() == allowed, (verb, resource, namespace)

    minted = json.loads(cluster.mint_kubeconfig(release.namespace, "webstack-operator-test").read_text())
    sa_dir = tmp_path / "serviceaccount"
    sa_dir.mkdir()
    (sa_dir / "token").write_text(minted["users"][0]["user"]["token"])
    server = minted["clusters"][0]["cluster"]
    if "certificate-authority-data" in server:
        (sa_dir / "ca.crt").write_bytes(base64.b64decode(server["certificate-authority-data"]))
    else:
        (sa_dir / "ca.crt").write_bytes(Path(server["certificate-authority"]).read_bytes())
    host, port = server["server"].removeprefix("https://").rsplit(":", 1)
    env = {
        "SERVICEACCOUNT_DIR": str(sa_dir),
        "KUBERNETES_SERVICE_HOST": host,
        "KUBERNETES_SERVICE_PORT": port,
        "RELEASE_NAMESPACE": release.namespace,
        "TEST_TIMEOUT_SECONDS": "3",
    }
    script = (CHART / "files" / "helm-test.py").read_text()
    ran = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert ran.returncode == 1
    # Nothing the API refused and the CRD Established: what is left is the operator pods' IPs (kwok's).
    assert "API:" not in ran.stderr and "not Established" not in ran.stderr, ran.stderr
    selector = "app.kubernetes.io/name=webstack-operator"  # pods carry no release labels (see the chart)
    got = cluster.kubectl("get", "pods", "-n", release.namespace, "-l", selector, "-o", "json").stdout
    pods = json.loads(got)["items"]
    assert len(pods) == 2
    for pod in pods:
        assert f"{pod['status']['podIP']}:" in ran.stderr, ran.stderr

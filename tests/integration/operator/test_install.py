"""The install, for real: every kustomization builds with the kubectl the cluster runs, the base applies by
server-side apply and its two operator pods pass the namespace's `restricted` Pod Security admission (on two
nodes, under a PodDisruptionBudget), the Lease Role grants the election and no more, the
overlays and sample stacks pass server-side dry runs (the WebStack schema and CEL rules included), and the
Argo CD objects are accepted by the apiserver with Argo CD's real CRDs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelocal.cluster import LocalCluster
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
BASE = "deploy/operator"
OVERLAYS = ["deploy/overlays/dev", "deploy/overlays/prod"]
# dev for the lab's real node: its image is a patch, not `images:` (tests/unit/delivery/test_lab_overlay.py).
LAB = "deploy/overlays/lab"
STACKS = ["deploy/overlays/dev/stack", "deploy/overlays/prod/stack"]
ARGOCD = "deploy/argocd"
CRD_NAME = "webstacks.webstack.dev"
OPERATOR_NAMESPACE, LEASE = "webstack-system", "webstack-operator"


def build(cluster: KubeTarget, path: str) -> list[dict[str, Any]]:
    out = cluster.kubectl("kustomize", str(ROOT / path)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def kustomization(path: str) -> dict[str, Any]:
    return dict(yaml.safe_load((ROOT / path / "kustomization.yaml").read_text()))


def server_side_apply(cluster: KubeTarget, path: str, *extra: str) -> str:
    return cluster.kubectl(
        "apply", "--server-side", "--field-manager=test-install", "-k", str(ROOT / path), *extra
    ).stdout


def get(cluster: KubeTarget, *ref: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", *ref, "-o", "json").stdout))


def versions(cluster: KubeTarget) -> dict[str, str]:
    """Spec generations (resource versions where there is none) of the base's objects that have a spec."""
    found = {}
    for ref in (
        "customresourcedefinition/" + CRD_NAME,
        "clusterrole/webstack-operator",
        "-n=webstack-system deployment/webstack-operator",
        "-n=webstack-system networkpolicy/webstack-operator",
        "-n=webstack-system poddisruptionbudget/webstack-operator",
        "-n=webstack-system role/webstack-operator-leader-election",
    ):
        *ns, name = ref.split()
        meta = get(cluster, *ns, name)["metadata"]
        found[ref] = str(meta.get("generation") or meta["resourceVersion"])
    return found


@pytest.fixture(scope="module")
def installed_base(platform: KubeTarget) -> KubeTarget:
    """deploy/operator applied for real, once (tests/integration/operator/test_rbac.py relies on the same
    install)."""
    server_side_apply(platform, BASE, "--force-conflicts")
    platform.wait_established([f"{CRD_NAME}"])
    return platform


@pytest.mark.parametrize("path", [BASE, *OVERLAYS, LAB, *STACKS, ARGOCD])
def test_every_kustomization_builds(cluster: KubeTarget, path: str) -> None:
    objects = build(cluster, path)
    assert objects, path
    for obj in objects:
        assert obj.get("apiVersion") and obj.get("kind") and obj["metadata"].get("name"), obj


def test_the_base_includes_the_generated_crd_unchanged(cluster: KubeTarget) -> None:
    """One source: the base builds the CRD from crds/, adding only Argo CD's do-not-prune annotation."""
    built = find(build(cluster, BASE), "CustomResourceDefinition", CRD_NAME)
    generated = yaml.safe_load((ROOT / "crds" / "webstack.dev_webstacks.yaml").read_text())
    annotations = built["metadata"].pop("annotations")
    assert annotations == {"argocd.argoproj.io/sync-options": "Prune=false,Delete=false"}
    assert built == generated


@pytest.mark.parametrize("path", OVERLAYS)
def test_overlays_set_the_operator_image(cluster: KubeTarget, path: str) -> None:
    image = kustomization(path)["images"][0]
    deployment = find(build(cluster, path), "Deployment", "webstack-operator")
    assert (
        deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        == f"{image['newName']}:{image['newTag']}"
    )
    assert deployment["spec"]["replicas"] == 2  # a leader and a standby


@pytest.mark.parametrize("path", STACKS)
def test_stacks_get_the_users_api_image(cluster: KubeTarget, path: str) -> None:
    image = kustomization(path)["images"][0]
    webstack = find(build(cluster, path), "WebStack", "shop")
    assert webstack["spec"]["backend"]["image"] == f"{image['newName']}:{image['newTag']}"


def test_the_base_applies_and_its_pod_passes_restricted_pod_security(installed_base: KubeTarget) -> None:
    cluster = installed_base
    ns = json.loads(cluster.kubectl("get", "namespace", "webstack-system", "-o", "json").stdout)
    assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    # The ReplicaSet's pod is admitted only if it meets `restricted`; kwok then marks it Ready.
    cluster.kubectl(
        "-n", "webstack-system", "rollout", "status", "deployment/webstack-operator", "--timeout=120s"
    )
    pods = json.loads(
        cluster.kubectl(
            "-n",
            "webstack-system",
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/name=webstack-operator",
            "-o",
            "json",
        ).stdout
    )["items"]
    running = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    assert len(running) == 2, [p["metadata"]["name"] for p in pods]
    # Two nodes here: the preferred anti-affinity puts one replica on each.
    assert len({p["spec"]["nodeName"] for p in running}) == 2, [p["spec"]["nodeName"] for p in running]
    # The PodDisruptionBudget sees both and lets one be evicted at a time.
    eventually(
        lambda: get(cluster, "-n=webstack-system", "poddisruptionbudget/webstack-operator").get("status", {}),
        until=lambda s: s.get("currentHealthy") == 2 and s.get("disruptionsAllowed") == 1,
        timeout=60,
        what="PDB webstack-operator: 2 healthy, 1 disruption allowed",
    )
    # A second apply changes nothing: the install is idempotent under server-side apply.
    before = versions(cluster)
    server_side_apply(cluster, BASE)
    assert versions(cluster) == before


def test_a_non_compliant_pod_would_be_refused(installed_base: KubeTarget) -> None:
    """The admission the previous test relies on is really enforced here."""
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "root-pod", "namespace": "webstack-system"},
        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]},
    }
    result = installed_base.kubectl(
        "apply", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False
    )
    assert result.returncode != 0
    assert "violates PodSecurity" in result.stderr


def test_the_lease_role_allows_the_election_and_nothing_more(installed_base: KubeTarget) -> None:
    """Asked of the apiserver's own authorizer, as the operator's ServiceAccount."""
    who = f"--as=system:serviceaccount:{OPERATOR_NAMESPACE}:webstack-operator"

    def can_i(*args: str) -> bool:
        result = installed_base.kubectl("auth", "can-i", *args, who, check=False)
        return result.stdout.strip() == "yes"

    lease = f"leases.coordination.k8s.io/{LEASE}"
    assert can_i("get", lease, "-n", OPERATOR_NAMESPACE)
    assert can_i("update", lease, "-n", OPERATOR_NAMESPACE)
    assert can_i("create", "leases.coordination.k8s.io", "-n", OPERATOR_NAMESPACE)
    assert not can_i("update", "leases.coordination.k8s.io/another-lease", "-n", OPERATOR_NAMESPACE)
    assert not can_i("get", "leases.coordination.k8s.io/another-lease", "-n", OPERATOR_NAMESPACE)
    for verb in ("list", "watch", "patch", "delete"):
        assert not can_i(verb, lease, "-n", OPERATOR_NAMESPACE), verb
    assert not can_i("create", "leases.coordination.k8s.io", "-n", "default")
    assert not can_i("update", lease, "-n", "kube-system")


@pytest.mark.parametrize("path", OVERLAYS)
def test_overlays_apply_by_server_side_apply(installed_base: KubeTarget, path: str) -> None:
    server_side_apply(installed_base, path, "--dry-run=server", "--force-conflicts")


def test_the_lab_overlay_applies_and_its_pod_passes_restricted_pod_security(
    installed_base: KubeTarget,
) -> None:
    """The lab changes the image, the placement and the env, none of them security; the namespace's
    admission agrees. It is enforced on Pods, not on a Deployment, so the lab's pod template is dry-run as
    a Pod (test_a_non_compliant_pod_would_be_refused shows such a dry run is refused when it should be)."""
    server_side_apply(installed_base, LAB, "--dry-run=server", "--force-conflicts")
    template = find(build(installed_base, LAB), "Deployment", "webstack-operator")["spec"]["template"]
    assert template["spec"]["tolerations"], "not the lab's pod template"
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "lab-operator", "namespace": OPERATOR_NAMESPACE, **template["metadata"]},
        "spec": template["spec"],
    }
    result = installed_base.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=json.dumps(pod), check=False
    )
    assert result.returncode == 0, result.stderr
    assert "pod/lab-operator serverside-applied (server dry run)" in result.stdout
    assert "PodSecurity" not in result.stderr, result.stderr


@pytest.mark.parametrize("path", STACKS)
def test_sample_stacks_pass_the_webstack_schema(installed_base: KubeTarget, path: str) -> None:
    cluster = installed_base
    # A dry run cannot create the namespace its WebStack needs; create it for real (nothing else).
    cluster.kubectl("create", "namespace", "shop", check=False)
    out = server_side_apply(cluster, path, "--dry-run=server")
    assert "webstack.webstack.dev/shop serverside-applied (server dry run)" in out


def test_a_stack_the_schema_refuses_is_refused(installed_base: KubeTarget) -> None:
    """The dry runs above are real validation: a `:latest` image fails the CRD's CEL rule."""
    webstack = find(build(installed_base, STACKS[1]), "WebStack", "shop")
    webstack["spec"]["backend"]["image"] = "users-api:latest"
    installed_base.kubectl("create", "namespace", "shop", check=False)
    result = installed_base.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=json.dumps(webstack), check=False
    )
    assert result.returncode != 0
    assert "latest" in result.stderr


def test_argocd_objects_are_accepted_with_the_real_argocd_crds(installed_base: KubeTarget) -> None:
    cluster = installed_base
    names = cluster.install_thirdparty_crds("argo-cd")
    assert {"applications.argoproj.io", "appprojects.argoproj.io"} <= set(names)
    cluster.kubectl("create", "namespace", "argocd", check=False)
    # Dry run: with no Argo CD controller, real Applications would keep their finalizer forever.
    out = server_side_apply(cluster, ARGOCD, "--dry-run=server")
    for obj in (
        "appproject.argoproj.io/webstack-platform",
        "appproject.argoproj.io/webstack-stacks",
        "application.argoproj.io/webstack-operator",
        "application.argoproj.io/webstack-shop",
    ):
        assert f"{obj} serverside-applied (server dry run)" in out, out


def test_the_argocd_schema_is_enforced(installed_base: KubeTarget) -> None:
    """The acceptance above means something: a malformed Application is refused by the same CRDs."""
    app = find(build(installed_base, ARGOCD), "Application", "webstack-shop")
    app["spec"]["syncPolicy"]["automated"]["selfHeal"] = "sometimes"
    result = installed_base.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=json.dumps(app), check=False
    )
    assert result.returncode != 0
    assert "selfHeal" in result.stderr


def test_the_base_installs_on_a_cluster_without_the_prometheus_operator() -> None:
    """The session's cluster has the third-party CRDs, so this starts a private, bare control plane: there
    the base applies for real (a new user's `kubectl apply --server-side -k deploy/operator`), while an
    overlay, which adds the operator-monitoring component, is refused for want of its CRDs."""
    with LocalCluster(nodes=1) as local:
        bare = KubeTarget(local.kubeconfig_path, local=local)
        try:
            groups = bare.kubectl("api-versions").stdout.split()
            assert not [g for g in groups if g.startswith("monitoring.coreos.com/")], groups
            server_side_apply(bare, BASE)
            bare.wait_established([CRD_NAME])
            bare.kubectl(
                "-n",
                OPERATOR_NAMESPACE,
                "rollout",
                "status",
                "deployment/webstack-operator",
                "--timeout=120s",
            )
            refused = bare.kubectl(
                "apply", "--server-side", "--dry-run=server", "-k", str(ROOT / OVERLAYS[1]), check=False
            )
            assert refused.returncode != 0
            assert "ServiceMonitor" in refused.stderr and "PrometheusRule" in refused.stderr, refused.stderr
        finally:
            bare.close()


def test_the_monitoring_component_applies_where_the_prometheus_operator_is(
    installed_base: KubeTarget,
) -> None:
    """With the CRDs (the session's platform), the component's objects are accepted, as the overlays'."""
    objects = build(installed_base, OVERLAYS[1])
    assert {"ServiceMonitor", "PrometheusRule"} <= {o["kind"] for o in objects}
    rule = find(objects, "PrometheusRule", "webstack-operator")
    out = installed_base.kubectl(
        "apply", "--server-side", "--dry-run=server", "-f", "-", input=json.dumps(rule)
    ).stdout
    assert "prometheusrule.monitoring.coreos.com/webstack-operator serverside-applied" in out

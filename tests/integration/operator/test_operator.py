"""The live operator on a real control plane: Ready, drift, updates, pruning, fallbacks, deletion,
restarts and scale. Pods "run" through kwok; Argo Rollouts' controller runs beside the control plane."""

from __future__ import annotations

import json
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.fixtures import apply_webstack
from tests.support.operator import (
    CRD_DIR,
    SAMPLES,
    OperatorProcess,
    bare_cluster,
    condition,
    events,
    get_json,
    install_webstack_crd,
    operator_command,
    wait_phase,
)

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
POD_TEMPLATE_HASH = "rollouts-pod-template-hash"  # the key Argo Rollouts adds to its Services' selectors
MINIMAL: dict[str, Any] = {"backend": {"image": IMAGE}}
CANARY: dict[str, Any] = {
    "backend": {
        "image": IMAGE,
        "delivery": {"strategy": "Canary", "steps": [{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}]},
    }
}
CHILD_KINDS = (
    "serviceaccounts,secrets,configmaps,services,deployments,statefulsets,rollouts,analysistemplates,"
    "horizontalpodautoscalers,ingresses,networkpolicies,poddisruptionbudgets,servicemonitors,prometheusrules,jobs"
)


def children(cluster: KubeTarget, ns: str, name: str) -> dict[tuple[str, str], dict[str, Any]]:
    served = set(cluster.kubectl("api-resources", "-o", "name").stdout.split())
    kinds = ",".join(
        k for k in CHILD_KINDS.split(",") if k in served or any(r.startswith(k + ".") for r in served)
    )
    items = get_json(
        cluster,
        kinds,
        "-n",
        ns,
        "-l",
        f"app.kubernetes.io/instance={name},app.kubernetes.io/managed-by=webstack-operator",
    )["items"]
    return {(i["kind"], i["metadata"]["name"]): i for i in items}


def render(path: Path) -> list[dict[str, Any]]:
    exe = Path(operator_command()[0])
    out = subprocess.run(
        [str(exe), "render", "-f", str(path), "-o", "json"], capture_output=True, text=True, check=True
    )
    data = json.loads(out.stdout)
    return list(data["items"] if isinstance(data, dict) else data)


def _check_pod_hardening(pod_spec: dict[str, Any], where: str) -> None:
    psc = pod_spec.get("securityContext", {})
    assert psc.get("runAsNonRoot") is True, where
    assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
    assert pod_spec.get("automountServiceAccountToken") is False, where
    for c in pod_spec.get("containers", []) + pod_spec.get("initContainers", []):
        sc = c.get("securityContext", {})
        assert sc.get("allowPrivilegeEscalation") is False, f"{where}/{c['name']}"
        assert sc.get("readOnlyRootFilesystem") is True, f"{where}/{c['name']}"
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], f"{where}/{c['name']}"
        assert c["resources"].get("requests") and c["resources"].get("limits"), f"{where}/{c['name']}"


def test_full_sample_becomes_ready_with_every_child(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    sample = SAMPLES / "webstack-full.yaml"
    doc = yaml.safe_load(sample.read_text())
    doc["metadata"]["namespace"] = namespace
    name = doc["metadata"]["name"]
    platform.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(doc))
    ws = wait_phase(platform, namespace, name, timeout=180)
    uid = ws["metadata"]["uid"]
    status = ws["status"]
    assert status["readyComponents"] == "4/4"
    assert all(
        c["status"] == "True"
        for c in status["conditions"]
        if c["type"]
        in (
            "Ready",
            "Reconciled",
            "BackendAvailable",
            "FrontendAvailable",
            "DatabaseReady",
            "CacheReady",
            "MonitoringConfigured",
            "BackupConfigured",
        )
    )
    policies = next(c for c in status["conditions"] if c["type"] == "NetworkPoliciesApplied")
    rendered = [o for o in _render_doc(doc) if o["kind"] == "NetworkPolicy"]
    assert (policies["status"], policies["reason"]) == ("True", "Applied"), policies
    assert policies["message"].startswith(f"{len(rendered)} NetworkPolicies applied"), policies

    for obj in _render_doc(doc):
        meta = obj["metadata"]
        resource = obj["kind"].lower() + (
            "." + obj["apiVersion"].split("/")[0] if "/" in obj["apiVersion"] else ""
        )
        live = get_json(platform, resource, meta["name"], "-n", meta.get("namespace", namespace))
        lbl = live["metadata"]["labels"]
        for key in ("name", "instance", "component", "part-of", "managed-by"):
            assert f"app.kubernetes.io/{key}" in lbl, (obj["kind"], meta["name"], key)
        refs = live["metadata"].get("ownerReferences") or []
        if live["metadata"]["namespace"] == namespace and not (
            obj["kind"] == "Secret"
            and (meta.get("annotations") or {}).get("webstack.dev/apply-policy") == "create-only"
        ):
            assert any(r["uid"] == uid and r.get("controller") for r in refs), (obj["kind"], meta["name"])
        template = live.get("spec", {}).get("template", {}).get("spec")
        if obj["kind"] in ("Deployment", "StatefulSet", "Rollout") and template:
            _check_pod_hardening(template, f"{obj['kind']}/{meta['name']}")

    pods = get_json(platform, "pods", "-n", namespace)["items"]
    assert pods, "no pods were created"
    for pod in pods:
        _check_pod_hardening(pod["spec"], f"pod/{pod['metadata']['name']}")

    table = platform.kubectl("get", "ws", "-n", namespace).stdout
    header, row = table.splitlines()[0], table.splitlines()[1]
    for column in ("PHASE", "READY", "BACKEND IMAGE", "URL", "AGE"):
        assert column in header.upper()
    assert "Ready" in row and "4/4" in row and doc["spec"]["backend"]["image"] in row


def test_drift_is_corrected_within_seconds(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", MINIMAL)
    wait_phase(platform, namespace, "shop")
    before = operator.metric("webstack_drift_corrections_total")
    old_uid = get_json(platform, "service", "shop-backend", "-n", namespace)["metadata"]["uid"]

    platform.kubectl("delete", "service", "shop-backend", "-n", namespace)
    eventually(
        lambda: get_json(platform, "service", "shop-backend", "-n", namespace)["metadata"]["uid"],
        until=lambda uid: uid != old_uid,
        timeout=10,
        what="backend Service recreated",
    )

    replicas = get_json(platform, "deployment", "shop-frontend", "-n", namespace)["spec"]["replicas"]
    platform.kubectl("scale", "deployment", "shop-frontend", "-n", namespace, f"--replicas={replicas + 3}")
    eventually(
        lambda: get_json(platform, "deployment", "shop-frontend", "-n", namespace)["spec"]["replicas"],
        until=lambda n: n == replicas,
        timeout=10,
        what="frontend replicas restored",
    )

    conf = get_json(platform, "configmap", "shop-frontend", "-n", namespace)["data"]["nginx.conf"]
    platform.kubectl(
        "patch",
        "configmap",
        "shop-frontend",
        "-n",
        namespace,
        "--type=merge",
        "-p",
        json.dumps({"data": {"nginx.conf": "events {}\n"}}),
    )
    eventually(
        lambda: get_json(platform, "configmap", "shop-frontend", "-n", namespace)["data"]["nginx.conf"],
        until=lambda text: text == conf,
        timeout=10,
        what="frontend ConfigMap restored",
    )

    eventually(
        lambda: operator.metric("webstack_drift_corrections_total"),
        until=lambda v: v >= before + 3,
        timeout=10,
        what="drift metric +3",
    )
    reasons = eventually(
        lambda: [
            e["message"] for e in events(platform, namespace, "shop") if e["reason"] == "DriftCorrected"
        ],
        until=lambda msgs: len(msgs) >= 3,
        timeout=10,
        what="3 DriftCorrected events",
    )
    assert any("Service shop-backend" in m for m in reasons)
    assert any("Deployment shop-frontend" in m for m in reasons)
    assert any("ConfigMap shop-frontend" in m for m in reasons)


def _spec_version(obj: dict[str, Any]) -> str:
    """What changes when someone writes an object's spec: its generation where it has one (status updates by
    controllers do not bump it), else its resourceVersion."""
    meta = obj["metadata"]
    return str(meta.get("generation") or meta["resourceVersion"])


def test_image_change_updates_only_the_backend(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", MINIMAL)
    wait_phase(platform, namespace, "shop")
    before = {k: _spec_version(v) for k, v in children(platform, namespace, "shop").items()}
    updates = operator.metric("webstack_object_writes_total", action="Updated")
    new_image = "ghcr.io/webstack-dev/users-api:0.2.0"
    apply_webstack(platform, namespace, "shop", {"backend": {"image": new_image}})
    ws = eventually(
        lambda: wait_phase(platform, namespace, "shop"),
        until=lambda w: w["status"]["components"]["backend"].get("image") == new_image,
        timeout=60,
        what="the new image Ready",
    )
    assert ws["status"]["components"]["backend"]["image"] == new_image
    after = {k: _spec_version(v) for k, v in children(platform, namespace, "shop").items()}
    # A new image runs its own migration Job first (the old one is pruned); nothing else changes.
    old_jobs, new_jobs = ({k for k in d if k[0] == "Job"} for d in (before, after))
    assert len(old_jobs) == 1 and len(new_jobs) == 1 and old_jobs != new_jobs, (old_jobs, new_jobs)
    assert set(after) - new_jobs == set(before) - old_jobs
    changed = {k for k in before if k[0] != "Job" and before[k] != after[k]}
    assert changed == {("Deployment", "shop-backend")}, changed
    assert operator.metric("webstack_object_writes_total", action="Updated") == updates + 1


def test_disabling_monitoring_prunes_and_switching_strategy_swaps_workload(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", CANARY)
    wait_phase(platform, namespace, "shop", timeout=120)
    kinds = {k[0] for k in children(platform, namespace, "shop")}
    assert {"ServiceMonitor", "PrometheusRule", "Rollout"} <= kinds
    assert ("Deployment", "shop-backend") not in children(platform, namespace, "shop")
    assert ("Service", "shop-backend-canary") in children(platform, namespace, "shop")
    argo = platform.local is None or "argo-rollouts" in platform.local.components
    if argo:  # Argo Rollouts narrows the stable Service to its stable ReplicaSet; the operator keeps that
        eventually(
            lambda: get_json(platform, "service", "shop-backend", "-n", namespace)["spec"]["selector"],
            until=lambda selector: POD_TEMPLATE_HASH in selector,
            timeout=30,
            what="Argo Rollouts' key in the stable Service's selector",
        )

    apply_webstack(platform, namespace, "shop", {**CANARY, "monitoring": {"enabled": False}})
    eventually(
        lambda: {k[0] for k in children(platform, namespace, "shop")},
        until=lambda ks: not ks & {"ServiceMonitor", "PrometheusRule"},
        timeout=20,
        what="monitoring pruned",
    )
    assert condition(wait_phase(platform, namespace, "shop"), "MonitoringConfigured")["reason"] == "Disabled"

    apply_webstack(platform, namespace, "shop", {**MINIMAL, "monitoring": {"enabled": False}})
    found = eventually(
        lambda: children(platform, namespace, "shop"),
        until=lambda c: (
            ("Deployment", "shop-backend") in c
            and ("Rollout", "shop-backend") not in c
            and ("Service", "shop-backend-canary") not in c
        ),
        timeout=30,
        what="Rollout swapped for a Deployment",
    )
    assert ("Service", "shop-backend") in found
    # No Rollout narrows the Service any more: it selects the Deployment's pods again.
    eventually(
        lambda: get_json(platform, "service", "shop-backend", "-n", namespace)["spec"]["selector"],
        until=lambda selector: POD_TEMPLATE_HASH not in selector,
        timeout=15,
        what="the stable Service's selector without Argo's key",
    )
    wait_phase(platform, namespace, "shop")


def test_a_new_image_starts_a_canary_and_status_shows_it(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    if platform.local is not None and "argo-rollouts" not in platform.local.components:
        pytest.skip("Argo Rollouts' controller is not built here")
    apply_webstack(platform, namespace, "shop", CANARY)
    wait_phase(platform, namespace, "shop", timeout=120)
    canary = {**CANARY, "backend": {**CANARY["backend"], "image": "ghcr.io/webstack-dev/users-api:0.2.0"}}
    apply_webstack(platform, namespace, "shop", canary)
    ws = eventually(
        lambda: get_json(platform, "webstack", "shop", "-n", namespace),
        until=lambda w: any(
            c["type"] == "CanaryProgressing" and c["status"] == "True"
            for c in (w.get("status") or {}).get("conditions", [])
        ),
        timeout=60,
        what="CanaryProgressing=True",
    )
    progressing = condition(ws, "CanaryProgressing")
    assert "step" in progressing["message"]
    assert ws["status"]["phase"] == "Progressing"  # the stable version serves; the stack is mid-change
    rollout = get_json(platform, "rollout", "shop-backend", "-n", namespace)
    assert rollout["status"]["currentPodHash"] != rollout["status"]["stableRS"]


def test_a_failure_that_persists_is_retried_shown_and_then_recovers(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    """A quota that refuses ConfigMaps: every apply fails with 403. The operator retries with backoff, says
    so once in status and in a Warning Event, and converges when the quota goes."""
    platform.apply(
        {
            "apiVersion": "v1",
            "kind": "ResourceQuota",
            "metadata": {"name": "no-configmaps", "namespace": namespace},
            "spec": {"hard": {"count/configmaps": "0"}},
        }
    )
    eventually(
        lambda: (
            get_json(platform, "resourcequota", "no-configmaps", "-n", namespace)
            .get("status", {})
            .get("hard")
        ),
        what="the quota to be enforced",
    )
    apply_webstack(platform, namespace, "shop", MINIMAL)
    ws = eventually(
        lambda: get_json(platform, "webstack", "shop", "-n", namespace),
        until=lambda w: any(
            c["type"] == "Reconciled" and c["reason"] == "ApiError"
            for c in (w.get("status") or {}).get("conditions", [])
        ),
        timeout=60,
        what="Reconciled=False reason ApiError",
    )
    assert ws["status"]["phase"] == "Degraded"
    assert "exceeded quota" in condition(ws, "Reconciled")["message"]
    failures = [e for e in events(platform, namespace, "shop") if e["reason"] == "ReconcileFailed"]
    assert len(failures) == 1, failures
    assert operator.metric("webstack_reconcile_total", result="error") >= 3
    platform.kubectl("delete", "resourcequota", "no-configmaps", "-n", namespace)
    wait_phase(platform, namespace, "shop", timeout=120)


def test_invalid_webstack_is_refused_by_the_apiserver(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    bad = {
        "apiVersion": "webstack.dev/v1alpha1",
        "kind": "WebStack",
        "metadata": {"name": "bad", "namespace": namespace},
        "spec": {"backend": {"image": IMAGE, "delivery": {"strategy": "Canary"}}},
    }
    result = platform.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(bad), check=False)
    assert result.returncode != 0
    assert "steps" in result.stderr and "Canary" in result.stderr, result.stderr


def test_deletion_keeps_data_with_retain_and_removes_it_with_delete(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "keep", MINIMAL)
    apply_webstack(platform, namespace, "drop", {**MINIMAL, "database": {"deletionPolicy": "Delete"}})
    wait_phase(platform, namespace, "keep")
    wait_phase(platform, namespace, "drop")
    for name in ("keep", "drop"):
        eventually(
            lambda name=name: get_json(platform, "pvc", f"data-{name}-postgres-0", "-n", namespace),  # type: ignore[misc]
            what=f"PVC of {name}",
        )
    platform.kubectl("delete", "webstack", "keep", "drop", "-n", namespace, "--wait=true", "--timeout=60s")
    for name in ("keep", "drop"):
        eventually(
            lambda name=name: children(platform, namespace, name),  # type: ignore[misc]
            until=lambda c, name=name: set(c) <= {("Secret", f"{name}-postgres")},  # type: ignore[misc]
            timeout=60,
            what=f"children of {name} gone",
        )
    assert (
        platform.kubectl("get", "pvc", "data-keep-postgres-0", "-n", namespace, check=False).returncode == 0
    )
    assert platform.kubectl("get", "secret", "keep-postgres", "-n", namespace, check=False).returncode == 0
    eventually(
        lambda: (
            platform.kubectl("get", "pvc", "data-drop-postgres-0", "-n", namespace, check=False).returncode
        ),
        until=lambda rc: rc != 0,
        timeout=60,
        what="PVC of drop deleted",
    )
    eventually(
        lambda: platform.kubectl("get", "secret", "drop-postgres", "-n", namespace, check=False).returncode,
        until=lambda rc: rc != 0,
        timeout=60,
        what="Secret of drop deleted",
    )


def test_paused_stack_is_left_alone(platform: KubeTarget, operator: OperatorProcess, namespace: str) -> None:
    apply_webstack(platform, namespace, "shop", MINIMAL)
    wait_phase(platform, namespace, "shop")
    apply_webstack(platform, namespace, "shop", {**MINIMAL, "paused": True})
    ws = wait_phase(platform, namespace, "shop", phase="Paused")
    assert condition(ws, "Reconciled")["reason"] == "Paused"
    platform.kubectl("delete", "service", "shop-backend", "-n", namespace)
    apply_webstack(
        platform,
        namespace,
        "shop",
        {"backend": {"image": "ghcr.io/webstack-dev/users-api:9.9.9"}, "paused": True},
    )
    wait_phase(platform, namespace, "shop", phase="Paused")
    image = get_json(platform, "deployment", "shop-backend", "-n", namespace)["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert image == IMAGE
    assert platform.kubectl("get", "service", "shop-backend", "-n", namespace, check=False).returncode != 0
    apply_webstack(platform, namespace, "shop", MINIMAL)
    wait_phase(platform, namespace, "shop")
    assert platform.kubectl("get", "service", "shop-backend", "-n", namespace, check=False).returncode == 0


def test_operator_and_apiserver_restarts_converge(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    names = [f"s{i}" for i in range(4)]
    for name in names:
        apply_webstack(platform, namespace, name, MINIMAL)
    operator.kill()  # mid-reconcile: SIGKILL, no cleanup
    operator.start()
    for name in names:
        wait_phase(platform, namespace, name)
    rendered = {
        (o["kind"], o["metadata"]["name"])
        for o in _render_spec(namespace, "s0", MINIMAL)
        if o["metadata"].get("namespace", namespace) == namespace
    }

    def shape(objects: set[tuple[str, str]], stack: str) -> set[tuple[str, str]]:
        # The migration Job's name ends in a hash of its spec, which names its stack.
        return {(k, f"{stack}-migrate-*" if k == "Job" else n) for k, n in objects}

    for name in names:
        live = set(children(platform, namespace, name))
        assert shape(live, name) == shape({(k, n.replace("s0", name, 1)) for k, n in rendered}, name), name
    if platform.local is None:
        pytest.skip("restarting kube-apiserver needs the local control plane")
    platform.local.restart_apiserver()
    apply_webstack(platform, namespace, "s0", {"backend": {"image": "ghcr.io/webstack-dev/users-api:0.3.0"}})
    platform.kubectl("delete", "service", "s1-backend", "-n", namespace)
    ws = wait_phase(platform, namespace, "s0")
    assert ws["status"]["components"]["backend"]["image"].endswith(":0.3.0")
    eventually(
        lambda: get_json(platform, "service", "s1-backend", "-n", namespace),
        timeout=30,
        what="s1-backend back",
    )
    assert operator.process is not None and operator.process.poll() is None


def _render_spec(namespace: str, name: str, spec: dict[str, Any]) -> list[dict[str, Any]]:
    return _render_doc(
        {
            "apiVersion": "webstack.dev/v1alpha1",
            "kind": "WebStack",
            "metadata": {"name": name, "namespace": namespace},
            "spec": spec,
        }
    )


def _render_doc(doc: dict[str, Any]) -> list[dict[str, Any]]:
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        yaml.safe_dump(doc, f)
    try:
        return render(Path(f.name))
    finally:
        Path(f.name).unlink()


def test_fifty_stacks_reach_ready_and_deleting_them_releases_what_the_operator_held(
    platform: KubeTarget, operator: OperatorProcess
) -> None:
    held = ("webstack_cached_children", "webstack_cache_stacks", "webstack_queue_depth")
    baseline = {name: operator.metric(name) for name in held}
    namespaces = [f"scale-{uuid.uuid4().hex[:6]}" for _ in range(10)]
    for ns in namespaces:
        platform.kubectl("create", "namespace", ns)
    try:
        spec = {**MINIMAL, "monitoring": {"enabled": False}, "database": {"deletionPolicy": "Delete"}}
        for i in range(50):
            apply_webstack(platform, namespaces[i % 10], f"app{i}", spec)

        def phases() -> list[str]:
            items = get_json(platform, "webstacks", "-A")["items"]
            return [
                (i.get("status") or {}).get("phase", "")
                for i in items
                if i["metadata"]["namespace"] in namespaces
            ]

        eventually(
            phases,
            until=lambda p: len(p) == 50 and all(x == "Ready" for x in p),
            timeout=300,
            interval=2,
            what="50 WebStacks Ready",
        )
        assert operator.metric("webstack_cache_stacks") >= 50  # earlier tests' stacks may be going meanwhile
        for ns in namespaces:
            platform.kubectl("delete", "webstacks", "--all", "-n", ns, "--wait=false")
        # Every per-stack entry goes with its stack: once garbage collection has taken the children, the
        # operator holds no more than before (less, if an earlier test's namespace finished going meanwhile).
        eventually(
            lambda: {name: operator.metric(name) for name in held},
            until=lambda now: all(now[name] <= baseline[name] for name in held),
            timeout=180,
            interval=1,
            what=f"the operator's cache back to its baseline {baseline}",
        )
    finally:
        for ns in namespaces:
            platform.kubectl("delete", "namespace", ns, "--wait=false", check=False)


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeTarget, OperatorProcess]]:
    """A private control plane with only the WebStack CRD: no Argo Rollouts, Prometheus Operator or Velero."""
    with bare_cluster(tmp_path_factory.mktemp("bare-operator")) as (cluster, _, proc):
        yield cluster, proc


def test_without_argo_rollouts_the_backend_falls_back_to_a_deployment(
    bare: tuple[KubeTarget, OperatorProcess],
) -> None:
    cluster, _ = bare
    apply_webstack(cluster, "team", "shop", {**CANARY, "backup": {"enabled": True}})
    ws = wait_phase(cluster, "team", "shop", timeout=120)
    assert get_json(cluster, "deployment", "shop-backend", "-n", "team")
    cond = condition(ws, "CanaryProgressing")
    assert cond["status"] == "False"
    assert cond["reason"] == "ArgoRolloutsNotInstalled"
    assert condition(ws, "MonitoringConfigured")["reason"] == "PrometheusOperatorNotInstalled"
    assert condition(ws, "BackupConfigured")["reason"] == "VeleroNotInstalled"
    # more reconciles (a drift fix) must not repeat the warning
    cluster.kubectl("delete", "service", "shop-backend", "-n", "team")
    eventually(
        lambda: get_json(cluster, "service", "shop-backend", "-n", "team"), timeout=15, what="service back"
    )
    warnings = [e for e in events(cluster, "team", "shop") if e["reason"] == "PrometheusOperatorNotInstalled"]
    assert len(warnings) == 1, warnings
    assert warnings[0].get("count", 1) == 1, warnings


def test_a_spec_the_schema_let_through_changes_nothing(bare: tuple[KubeTarget, OperatorProcess]) -> None:
    """Version skew: an older, laxer CRD admitted a spec this operator rejects. It must say where, with a
    Warning Event, and leave every existing child exactly as it was."""
    cluster, _ = bare
    crd = yaml.safe_load(next(CRD_DIR.glob("*.yaml")).read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    schema["properties"]["spec"] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    schema.pop("x-kubernetes-validations", None)
    cluster.apply(crd)
    apply_webstack(cluster, "team", "skew", MINIMAL)
    wait_phase(cluster, "team", "skew")
    before = {k: v["metadata"]["resourceVersion"] for k, v in children(cluster, "team", "skew").items()}
    bad = {"backend": {"image": "ghcr.io/webstack-dev/users-api:0.2.0", "delivery": {"strategy": "Canary"}}}
    apply_webstack(cluster, "team", "skew", bad)
    ws = wait_phase(cluster, "team", "skew", phase="Failed")
    ready = condition(ws, "Ready")
    assert ready["status"] == "False"
    assert ready["reason"] == "InvalidSpec"
    assert "spec.backend.delivery" in ready["message"]
    warning = eventually(
        lambda: [e for e in events(cluster, "team", "skew") if e["reason"] == "InvalidSpec"],
        timeout=10,
        what="InvalidSpec event",
    )
    assert "spec.backend.delivery" in warning[0]["message"]
    after = {k: v["metadata"]["resourceVersion"] for k, v in children(cluster, "team", "skew").items()}
    assert after == before
    install_webstack_crd(cluster)

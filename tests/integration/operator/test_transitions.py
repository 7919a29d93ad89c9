"""Transitions on a real control plane: no spec edit deletes a database volume or the credentials that open
it, and a backend that changes kind (Deployment <-> Argo Rollout) hands over without a moment at zero.

Pods "run" through kwok, which marks them Ready; Argo Rollouts' controller runs beside the control plane.
What the backend serves is watched, not polled: one watch on the stack's backend pods and one on the stable
Service's EndpointSlices, each event applied to the state it keeps, so no moment between two polls is missed.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import (
    OperatorProcess,
    bare_cluster,
    condition,
    events,
    get_json,
    wait_phase,
)
from tests.support.serving import Watched, never_zero, ready_endpoints, ready_pods

from kubelocal.cluster import LocalCluster
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localservices import console_script

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
BACKEND: dict[str, Any] = {"image": IMAGE, "replicas": 2}
STEPS = [{"setWeight": 25}, {"pause": {}}]
CANARY: dict[str, Any] = {"backend": {**BACKEND, "delivery": {"strategy": "Canary", "steps": STEPS}}}
ROLLING: dict[str, Any] = {"backend": {**BACKEND, "delivery": {"strategy": "RollingUpdate"}}}
BACKEND_PODS = "app.kubernetes.io/instance={stack},app.kubernetes.io/component=backend"


@pytest.fixture
def serving(platform: KubeTarget, namespace: str) -> Iterator[Callable[[str], tuple[Watched, Watched]]]:
    """Starts the two watches for a stack: its backend pods, and its stable Service's EndpointSlices."""
    started: list[Watched] = []

    def start(stack: str) -> tuple[Watched, Watched]:
        pods = Watched(
            platform,
            f"/api/v1/namespaces/{namespace}/pods?labelSelector={BACKEND_PODS.format(stack=stack)}",
            ready_pods,
        )
        slices = Watched(
            platform,
            f"/apis/discovery.k8s.io/v1/namespaces/{namespace}/endpointslices"
            f"?labelSelector=kubernetes.io/service-name={stack}-backend",
            ready_endpoints,
        )
        started.extend((pods, slices))
        eventually(
            lambda: (pods.snapshot(), slices.snapshot()), until=lambda s: s[0] and s[1], what="watches"
        )
        return pods, slices

    yield start
    for watch in started:
        watch.stop()


def _switch(cluster: KubeTarget, ns: str, spec: dict[str, Any], kind: str) -> None:
    """Applies `shop` with this spec and waits until its backend is a `kind` alone: the hand-over done."""
    apply_webstack(cluster, ns, "shop", spec)
    eventually(
        lambda: _backend_kinds(cluster, ns, "shop"),
        until=lambda k: k == {kind},
        timeout=90,
        what=f"{kind} only",
    )


def _backend_kinds(cluster: KubeTarget, ns: str, stack: str) -> set[str]:
    found = set()
    for kind in ("deployment", "rollout"):
        if cluster.kubectl("get", kind, f"{stack}-backend", "-n", ns, check=False).returncode == 0:
            found.add(kind)
    return found


def _uid(cluster: KubeTarget, *args: str) -> str:
    return str(get_json(cluster, *args)["metadata"]["uid"])


def _plan(cluster: KubeTarget, ns: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """`kubectl webstack plan -o json` of one stack's file: what the edit would do."""
    doc = {
        "apiVersion": "webstack.dev/v1alpha1",
        "kind": "WebStack",
        "metadata": {"name": name, "namespace": ns},
    }
    result = subprocess.run(
        [
            *(console_script("kubectl-webstack"), "plan", "-f", "-", "--field-manager", "test", "-o", "json"),
            *("--kubeconfig", str(cluster.kubeconfig_path)),
        ],
        input=json.dumps({**doc, "spec": spec}),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 2), result.stderr
    (stack,) = json.loads(result.stdout)["stacks"]
    return dict(stack)


def _argo(cluster: KubeTarget) -> None:
    if cluster.local is not None and "argo-rollouts" not in cluster.local.components:
        pytest.skip("Argo Rollouts' controller is not built here")


# -- 1. no edit deletes data
RDS = {"credentials": {"secretRef": {"name": "rds"}}}  # an External database's credentials (a uri)


def _managed_with_data(cluster: KubeTarget, ns: str, database: dict[str, Any]) -> dict[str, str]:
    """A Ready stack with a Managed database and its volume, and a Secret for the External one it may
    switch to; the UIDs of the StatefulSet, its claim and its credentials."""
    apply_webstack(cluster, ns, "shop", {"backend": BACKEND, "database": database})
    wait_phase(cluster, ns, "shop", timeout=120)
    eventually(
        lambda: cluster.kubectl("get", "pvc", "data-shop-postgres-0", "-n", ns, check=False),
        until=lambda r: r.returncode == 0,
        what="the database volume",
    )
    cluster.kubectl("create", "secret", "generic", "rds", "-n", ns, "--from-literal=uri=postgres://x@rds/db")
    return {
        kind: _uid(cluster, kind, name, "-n", ns)
        for kind, name in (
            ("statefulset", "shop-postgres"),
            ("pvc", "data-shop-postgres-0"),
            ("secret", "shop-postgres"),
        )
    }


def _orphaned(cluster: KubeTarget, ns: str) -> dict[str, Any]:
    ws = eventually(
        lambda: get_json(cluster, "webstack", "shop", "-n", ns),
        until=lambda w: any(c["type"] == "Orphaned" for c in (w.get("status") or {}).get("conditions") or []),
        timeout=60,
        what="the Orphaned condition",
    )
    return condition(ws, "Orphaned")


def test_switching_to_external_under_delete_is_refused_and_deletes_nothing(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    uids = _managed_with_data(platform, namespace, {"deletionPolicy": "Delete"})
    external = {"backend": BACKEND, "database": {"mode": "External", "deletionPolicy": "Delete", **RDS}}
    doc = {
        "apiVersion": "webstack.dev/v1alpha1",
        "kind": "WebStack",
        "metadata": {"name": "shop", "namespace": namespace},
        "spec": external,
    }
    refused = platform.kubectl(
        "apply", "--server-side", "--field-manager=test", "--force-conflicts", "-f", "-",
        input=json.dumps(doc), check=False,
    )  # fmt: skip
    assert refused.returncode != 0, refused.stdout
    assert "deletionPolicy" in refused.stderr and "spec.database.mode" in refused.stderr, refused.stderr
    assert get_json(platform, "webstack", "shop", "-n", namespace)["spec"]["database"]["mode"] == "Managed"
    assert _uid(platform, "pvc", "data-shop-postgres-0", "-n", namespace) == uids["pvc"]
    assert _uid(platform, "secret", "shop-postgres", "-n", namespace) == uids["secret"]


def test_switching_to_external_orphans_the_database_and_keeps_its_volume_and_credentials(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    """The edit that sets Retain and External at once: the StatefulSet still says `whenDeleted: Delete`
    when the operator stops rendering it, so pruning it would take the claim."""
    uids = _managed_with_data(platform, namespace, {"deletionPolicy": "Delete"})
    external = {"backend": BACKEND, "database": {"mode": "External", "deletionPolicy": "Retain", **RDS}}
    planned = _plan(platform, namespace, "shop", external)
    assert any("StatefulSet shop-postgres (PVC data-shop-postgres-0)" in n for n in planned["notes"]), planned
    assert ("StatefulSet", "shop-postgres") not in {(o["kind"], o["name"]) for o in planned["objects"]}
    deleted = {(o["kind"], o["name"]) for o in planned["objects"] if o["action"] == "delete"}
    assert {("Service", "shop-postgres"), ("Service", "shop-postgres-rw")} <= deleted, planned
    apply_webstack(platform, namespace, "shop", external)
    orphaned = _orphaned(platform, namespace)
    for text in ("StatefulSet shop-postgres", "data-shop-postgres-0", "Secret shop-postgres", "kubectl"):
        assert text in orphaned["message"], orphaned
    wait_phase(platform, namespace, "shop", timeout=120)
    # Both Services went (no data); the StatefulSet, its claim and the credentials are kept, let go.
    for service in ("shop-postgres", "shop-postgres-rw"):
        eventually(
            lambda service=service: platform.kubectl("get", "service", service, "-n", namespace, check=False),  # type: ignore[misc]
            until=lambda r: r.returncode != 0,
            what=f"the database Service {service} pruned",
        )
    kept = get_json(platform, "statefulset", "shop-postgres", "-n", namespace)
    assert kept["metadata"]["uid"] == uids["statefulset"]
    assert not kept["metadata"].get("ownerReferences"), kept["metadata"]
    assert kept["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    secret = get_json(platform, "secret", "shop-postgres", "-n", namespace)
    assert not secret["metadata"].get("ownerReferences"), secret["metadata"]
    # Even deleting the StatefulSet (as the Event says to) and then the WebStack leaves claim and password.
    for kind in ("statefulset/shop-postgres", "webstack/shop"):
        platform.kubectl("delete", kind, "-n", namespace, "--wait=true", "--timeout=60s")
    eventually(
        lambda: platform.kubectl(
            "get", "pods", "-n", namespace, "-l", "app.kubernetes.io/component=database", "-o", "name"
        ),
        until=lambda r: r.stdout.strip() == "",
        what="the database pod gone with its StatefulSet",
    )
    assert _uid(platform, "pvc", "data-shop-postgres-0", "-n", namespace) == uids["pvc"]
    assert _uid(platform, "secret", "shop-postgres", "-n", namespace) == uids["secret"]
    said = [e for e in events(platform, namespace, "shop") if e["reason"] == "Orphaned"]
    assert len(said) == 1 and said[0]["type"] == "Warning", said
    assert "kubectl -n " in said[0]["message"] and "delete pvc data-shop-postgres-0" in said[0]["message"]


def test_switching_back_to_managed_takes_the_kept_database_back(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    uids = _managed_with_data(platform, namespace, {})
    apply_webstack(platform, namespace, "shop", {"backend": BACKEND, "database": {"mode": "External", **RDS}})
    _orphaned(platform, namespace)
    apply_webstack(platform, namespace, "shop", {"backend": BACKEND})
    ws = wait_phase(platform, namespace, "shop", timeout=120)
    assert "Orphaned" not in {c["type"] for c in ws["status"]["conditions"]}
    back = get_json(platform, "statefulset", "shop-postgres", "-n", namespace)
    assert back["metadata"]["uid"] == uids["statefulset"]
    assert [r["uid"] for r in back["metadata"]["ownerReferences"]] == [ws["metadata"]["uid"]]
    assert _uid(platform, "pvc", "data-shop-postgres-0", "-n", namespace) == uids["pvc"]
    assert _uid(platform, "secret", "shop-postgres", "-n", namespace) == uids["secret"]


def test_switching_to_external_under_the_default_retain_lets_the_generated_credentials_go_too(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    """Under `Retain` the generated Secret carries no owner reference (it outlives the WebStack), so it is no
    child of the stack: it is let go and named all the same, never deleted."""
    uids = _managed_with_data(platform, namespace, {})  # deletionPolicy: Retain, the default
    external = {"backend": BACKEND, "database": {"mode": "External", **RDS}}
    planned = _plan(platform, namespace, "shop", external)
    assert any("Secret shop-postgres" in n for n in planned["notes"]), planned  # said before the edit
    apply_webstack(platform, namespace, "shop", external)
    ws = eventually(
        lambda: get_json(platform, "webstack", "shop", "-n", namespace),
        until=lambda w: any(
            c["type"] == "Orphaned" and "Secret shop-postgres" in c.get("message", "")
            for c in (w.get("status") or {}).get("conditions") or []
        ),
        timeout=60,
        what="the Orphaned condition naming the Secret",
    )
    assert "StatefulSet shop-postgres" in condition(ws, "Orphaned")["message"]
    assert _uid(platform, "pvc", "data-shop-postgres-0", "-n", namespace) == uids["pvc"]
    secret = get_json(platform, "secret", "shop-postgres", "-n", namespace)
    assert secret["metadata"]["uid"] == uids["secret"]
    assert secret["metadata"]["annotations"]["webstack.dev/orphaned-from"] == ws["metadata"]["uid"]
    said = eventually(
        lambda: [e for e in events(platform, namespace, "shop") if e["reason"] == "Orphaned"],
        until=bool,
        what="the Orphaned Event",
    )
    assert len(said) == 1 and "delete secret shop-postgres" in said[0]["message"], said


# -- 2. a workload switch is a hand-over
def test_rolling_update_to_canary_and_back_never_leaves_the_backend_without_ready_pods(
    platform: KubeTarget,
    operator: OperatorProcess,
    namespace: str,
    serving: Callable[[str], tuple[Watched, Watched]],
) -> None:
    _argo(platform)
    apply_webstack(platform, namespace, "shop", ROLLING)
    wait_phase(platform, namespace, "shop", timeout=120)
    pods, slices = serving("shop")

    _switch(platform, namespace, CANARY, "rollout")
    wait_phase(platform, namespace, "shop", timeout=90)
    _switch(platform, namespace, ROLLING, "deployment")
    ws = wait_phase(platform, namespace, "shop", timeout=90)
    assert "BackendHandOver" not in {c["type"] for c in ws["status"]["conditions"]}

    pod_counts, endpoint_counts = never_zero(pods.stop()), never_zero(slices.stop())
    assert pod_counts and 0 not in pod_counts, f"ready backend pods went to 0: {pod_counts}"
    assert endpoint_counts and 0 not in endpoint_counts, (
        f"the stable Service's ready endpoints went to 0: {endpoint_counts}"
    )


# -- 2b. a cluster gaining Argo Rollouts: one stack at a time
@pytest.fixture(scope="module")
def without_argo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[KubeTarget, LocalCluster]]:
    """A private control plane with only the WebStack CRD, to which the test adds Argo Rollouts."""
    with bare_cluster(tmp_path_factory.mktemp("transitions-operator")) as (cluster, local, _):
        yield cluster, local


def backend_by_stack(objects: dict[str, Any]) -> dict[str, tuple[int, bool, bool]]:
    """Per stack: ready backend pods, and whether live (not terminating) pods of a Deployment and of a
    Rollout (Argo's `rollouts-pod-template-hash` label) both exist: a hand-over in progress."""
    found: dict[str, tuple[int, bool, bool]] = {}
    for pod in objects.values():
        meta = pod["metadata"]
        stack = meta["labels"]["app.kubernetes.io/instance"]
        ready, deployment, rollout = found.get(stack, (0, False, False))
        if not meta.get("deletionTimestamp"):
            ready += ready_pods({"pod": pod})
            if "rollouts-pod-template-hash" in meta["labels"]:
                rollout = True
            else:
                deployment = True
        found[stack] = (ready, deployment, rollout)
    return found


def endpoints_by_service(objects: dict[str, Any]) -> dict[str, int]:
    found: dict[str, int] = {}
    for eps in objects.values():
        service = eps["metadata"]["labels"]["kubernetes.io/service-name"]
        found[service] = found.get(service, 0) + ready_endpoints({"eps": eps})
    return found


def test_a_cluster_gaining_argo_rollouts_hands_its_canary_stacks_over_one_at_a_time(
    without_argo: tuple[KubeTarget, LocalCluster],
) -> None:
    cluster, local = without_argo
    stacks = ("one", "two", "three")
    for stack in stacks:
        apply_webstack(cluster, "team", stack, CANARY)
    for stack in stacks:
        wait_phase(cluster, "team", stack, timeout=180)
        assert _backend_kinds(cluster, "team", stack) == {"deployment"}
    services = ",".join(f"{s}-backend" for s in stacks)
    pods = Watched(
        cluster,
        "/api/v1/namespaces/team/pods?labelSelector=app.kubernetes.io/component=backend",
        backend_by_stack,
    )
    slices = Watched(
        cluster,
        f"/apis/discovery.k8s.io/v1/namespaces/team/endpointslices?labelSelector=kubernetes.io/service-name+in+({services})",
        endpoints_by_service,
    )
    try:
        eventually(
            lambda: (pods.snapshot(), slices.snapshot()),
            until=lambda s: s[0] and len(s[0][-1]) == 3 and s[1] and len(s[1][-1]) == 3,
            what="the watches' first state",
        )
        cluster.install_thirdparty_crds("argo-rollouts")
        if not local.start_argo_rollouts():
            pytest.skip("Argo Rollouts' controller is not built here")
        for stack in stacks:
            eventually(
                lambda stack=stack: _backend_kinds(cluster, "team", stack),
                until=lambda kinds: kinds == {"rollout"},
                timeout=180,
                what=f"{stack}: Rollout only",
            )
        for stack in stacks:
            wait_phase(cluster, "team", stack, timeout=60)
    finally:
        moments, endpoints = pods.stop(), slices.stop()

    for stack in stacks:
        ready = never_zero([moment.get(stack, (0, False, False))[0] for moment in moments])
        assert 0 not in ready, f"{stack}: ready backend pods went to 0: {ready}"
        served = never_zero([moment.get(f"{stack}-backend", 0) for moment in endpoints])
        assert 0 not in served, f"{stack}: the stable Service's ready endpoints went to 0: {served}"
    # A hand-over in progress: a stack with live pods of both workloads. Never two stacks at once, and each
    # stack had one (the old pods served until the new ones were ready).
    switching = [sorted(s for s, (_, d, r) in moment.items() if d and r) for moment in moments]
    assert max(len(s) for s in switching) == 1, f"stacks handing over at once: {max(switching, key=len)}"
    assert {s for moment in switching for s in moment} == set(stacks)

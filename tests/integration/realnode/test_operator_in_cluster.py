"""The operator as users run it: installed with `kubectl apply -k` (deploy/overlays/lab, the dev overlay with
the lab's images and placement), two replicas on the real node talking to the API on their ServiceAccount
token, one leading through the Lease; it reconciles the demo sample (canary through the Argo Rollouts
controller, monitoring on, backup configured) onto real pods, served through the frontend's nginx.

A leader deleted hands over to the standby, which reconciles what changed meanwhile; a roll of the
Deployment to a new image tag never has two writers, read from the apiserver's audit log (each request
carries the bound token's pod name). Stacks of these tests run on the real node, so "Ready" is the kubelet's.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import expect, sync_playwright
from tests.support.audit import (
    AuditWrite,
    assert_one_writer_at_a_time,
    assert_writes_within_terms,
    audit_log_or_skip,
    operator_writes,
)
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.fixtures import apply_doc
from tests.support.incluster import LAB_OVERLAY, NAME, NAMESPACE, InCluster
from tests.support.operator import (
    OPERATOR_POD_LABEL,
    RELEASED_TAKEOVER_WITHIN,
    get_json,
    tag_lab_image,
    wait_phase,
    webstack_doc,
)
from tests.support.reach import service_url
from tests.support.realnode_stack import is_ready

from kubelocal import leaks
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from labimages import reference_of

ROLL_TAG = "lab-roll"


def _stack_pods(cluster: KubeTarget, doc: dict[str, Any], component: str) -> list[dict[str, Any]]:
    selector = f"app.kubernetes.io/instance={doc['metadata']['name']},app.kubernetes.io/component={component}"
    pods: list[dict[str, Any]] = get_json(
        cluster, "pods", "-n", doc["metadata"]["namespace"], "-l", selector
    )["items"]
    return [p for p in pods if not p["metadata"].get("deletionTimestamp")]


def _on_real_node(pod: dict[str, Any], real_node: str) -> bool:
    statuses = pod.get("status", {}).get("containerStatuses", [])
    return pod["spec"].get("nodeName") == real_node and all(
        s["containerID"].startswith("containerd://") for s in statuses
    )


def _writers(writes: list[AuditWrite]) -> set[str]:
    """The pods whose writes (other than their Lease's) succeeded."""
    return {w.pod for w in writes if not w.is_lease and w.succeeded}


def test_two_replicas_on_the_real_node_one_leads_on_its_token(installed: InCluster, real_node: str) -> None:
    pods = installed.get("pods", "-l", OPERATOR_POD_LABEL)["items"]
    assert len(pods) == 2
    for pod in pods:
        assert _on_real_node(pod, real_node), pod["metadata"]["name"]
        assert [s["restartCount"] for s in pod["status"]["containerStatuses"]] == [0]
        [container] = pod["spec"]["containers"]
        assert container["image"] == reference_of("webstack.lab/webstack-operator")
        # The in-cluster path: the projected token, not a kubeconfig or a token file of ours.
        volumes = [v["name"] for v in pod["spec"]["volumes"]]
        assert any(v.startswith("kube-api-access-") for v in volumes), volumes
        assert "WEBSTACK_TOKEN_FILE" not in {e["name"] for e in container.get("env", [])}
    leader = installed.leader()
    [standby] = [p for p in installed.pods() if p.name != leader.name]
    assert (leader.role(), standby.role()) == ("leader", "standby")
    assert standby.metric("webstack_leader") == 0
    # A standby writes nothing; its one POST may be the Lease's create it lost to the other pod (a 409).
    writes = standby.writes()
    assert (writes["PUT"], writes["PATCH"], writes["DELETE"]) == (0, 0, 0), writes
    assert writes["POST"] <= 1, writes
    # /metrics behind its Service: both pods are its endpoints.
    slices = installed.get("endpointslices", "-l", f"kubernetes.io/service-name={NAME}-metrics")["items"]
    addresses = {a for s in slices for e in s["endpoints"] for a in e["addresses"]}
    assert addresses == {p.ip for p in installed.pods()}
    budget = eventually(
        lambda: installed.get("pdb", NAME)["status"],
        until=lambda s: s.get("currentHealthy") == 2,
        timeout=30,
        what="the PDB counts both replicas",
    )
    assert budget["disruptionsAllowed"] == 1


def test_demo_sample_runs_on_real_pods_served_through_the_frontend(
    installed: InCluster, demo: dict[str, Any], real_node: str, tmp_path: Path
) -> None:
    cluster, namespace, name = installed.cluster, demo["metadata"]["namespace"], demo["metadata"]["name"]
    ws = get_json(cluster, "webstack", name, "-n", namespace)
    # Ready is the kubelet's word: every pod of every component Running and Ready in a container.
    for component in ("backend", "frontend", "database", "cache"):
        pods = _stack_pods(cluster, demo, component)
        assert pods, component
        for pod in pods:
            assert _on_real_node(pod, real_node) and is_ready(pod), (component, pod["metadata"]["name"])
    # The canary goes through the Argo Rollouts controller; monitoring and backup objects are there.
    assert get_json(cluster, "rollout", f"{name}-backend", "-n", namespace)["status"]["phase"] == "Healthy"
    selector = f"app.kubernetes.io/instance={name}"
    extras = (("servicemonitors", namespace), ("prometheusrules", namespace), ("schedules", "velero"))
    for kind, where in extras:
        assert get_json(cluster, kind, "-n", where, "-l", selector)["items"], kind
    assert ws["status"]["phase"] == "Ready"
    for where in (NAMESPACE, namespace):  # what the README's tour shows, from this run
        print(cluster.kubectl("get", "pods", "-o", "wide", "-n", where).stdout)
    email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
    with service_url(cluster, namespace, f"{name}-frontend") as url:
        _add_and_read_back(url, email, tmp_path)


def _add_and_read_back(url: str, email: str, tmp_path: Path) -> None:
    """A user added through the UI in Chromium, then read back through nginx → backend → Redis/Postgres."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(url)
            page.fill("#email", email)
            page.fill("#name", "Ada Lovelace")
            page.click("#add-user")
            expect(page.locator("#status")).to_have_text(f"Added {email}.")
            page.screenshot(path=str(tmp_path / "ui-on-real-pods.png"), full_page=True)
        finally:
            browser.close()
    # Read back through nginx → backend pod → Redis / Postgres pods.
    with httpx.Client(base_url=url, timeout=10, trust_env=False) as client:
        found, cursor = [], None
        while True:  # every page: the other suites' load wrote users too
            page = client.get("/api/users", params={"limit": 100, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200
            found += [u for u in page.json()["items"] if u["email"] == email]
            if not (cursor := page.json().get("next_cursor")):
                break
        [user] = found
        read = client.get(f"/api/users/{user['id']}")
        assert read.status_code == 200 and read.json()["name"] == "Ada Lovelace"
        assert read.headers["X-Cache"] in ("MISS", "HIT")


def test_leader_deleted_the_standby_leads_and_reconciles_a_change_made_meanwhile(
    installed: InCluster, demo: dict[str, Any], real_node: str
) -> None:
    cluster, namespace, name = installed.cluster, demo["metadata"]["namespace"], demo["metadata"]["name"]
    audit_log = audit_log_or_skip(cluster)
    leader = installed.leader()
    deleted = time.monotonic()
    installed.kubectl("delete", "pod", leader.name, "--wait=false")
    # Changed while the leader stops (kopf first, then the Lease): nobody may be reconciling it right now.
    changed_at = datetime.now(UTC)
    changed = {"spec": {"backend": {"replicas": 3}}}
    cluster.kubectl("patch", "webstack", name, "-n", namespace, "--type=merge", "-p", json.dumps(changed))
    eventually(
        installed.holder, until=lambda h: not h.startswith(f"{leader.name}_"), timeout=60, what="lease let go"
    )
    released = time.monotonic()
    successor = installed.leader(timeout=RELEASED_TAKEOVER_WITHIN)
    led = time.monotonic()
    assert successor.name != leader.name
    wait_phase(cluster, namespace, name, timeout=180)
    reconciled = time.monotonic()
    eventually(
        lambda: _stack_pods(cluster, demo, "backend"),
        until=lambda pods: len(pods) == 3 and all(is_ready(p) and _on_real_node(p, real_node) for p in pods),
        timeout=120,
        what="three backend pods Ready on the real node",
    )
    # The change was the successor's to make: the backend's writes after it are its own.
    scaled = [
        w
        for w in operator_writes(audit_log, changed_at)
        if w.succeeded and w.name == f"{name}-backend" and w.resource.startswith("rollouts")
    ]
    assert scaled and {w.pod for w in scaled} == {successor.name}, scaled
    # The Deployment replaced the deleted pod: two replicas again, the new one a standby.
    eventually(installed.pods, until=lambda pods: len(pods) == 2, timeout=120, what="two operator pods Ready")
    assert sorted(p.role() for p in installed.pods()) == ["leader", "standby"]
    print(
        f"[figures] leader pod deleted → lease released {released - deleted:.1f}s, "
        f"successor leads {led - deleted:.1f}s, change reconciled {reconciled - deleted:.1f}s"
    )


def _roll_overlay(directory: Path, repository: str) -> Path:
    """The lab overlay with the operator image at ROLL_TAG: what a release's tag bump does to dev."""
    directory.mkdir()
    (directory / "kustomization.yaml").write_text(
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
        f"resources: [{os.path.relpath(LAB_OVERLAY, directory)}]\n"
        f"images: [{{name: {repository}, newTag: {ROLL_TAG}}}]\n"
    )
    return directory


def _drifting_stack(cluster: KubeTarget, stop: threading.Event) -> tuple[str, threading.Thread]:
    """A stack on kwok (cheap pods) whose backend is scaled by hand every 2 s until `stop`: whoever leads
    writes it back, so every term writes."""
    namespace = f"roll-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", namespace)
    apply_doc(
        cluster, webstack_doc(namespace, {"backend": {"image": "ghcr.io/webstack-dev/users-api:0.1.0"}})
    )
    wait_phase(cluster, namespace, "shop", timeout=120)

    def drift() -> None:
        for replicas in itertools.cycle((3, 4)):
            if stop.wait(2):
                return
            cluster.kubectl("scale", "deployment/shop-backend", f"--replicas={replicas}", "-n", namespace)

    return namespace, threading.Thread(target=drift, name="drift", daemon=True)


def test_rolling_the_operator_to_a_new_tag_never_has_two_writers(
    installed: InCluster, demo: dict[str, Any], tmp_path: Path
) -> None:
    cluster, namespace, name = installed.cluster, demo["metadata"]["namespace"], demo["metadata"]["name"]
    audit_log = audit_log_or_skip(cluster)
    repository = reference_of("webstack.lab/webstack-operator").rsplit(":", 1)[0]
    tag_lab_image(cluster, reference_of("webstack.lab/webstack-operator"), f"{repository}:{ROLL_TAG}")
    stop = threading.Event()
    drifting, writer = _drifting_stack(cluster, stop)
    roll_since = datetime.now(UTC)
    writer.start()
    started = time.monotonic()
    try:
        installed.install(_roll_overlay(tmp_path / "roll", repository))
        rolled = time.monotonic()
        leader = installed.leader()
        eventually(  # the drift goes on until the new leader has put it back at least once
            lambda: _writers(operator_writes(audit_log, roll_since)),
            until=lambda writers: leader.name in writers,
            timeout=60,
            what=f"a write by the new leader {leader.name}",
        )
        stop.set()
        writer.join(timeout=30)
        wait_phase(cluster, drifting, "shop", timeout=60)
    finally:
        stop.set()
        leaks.harvest(cluster.kubeconfig_path)  # the drifting stack's passwords, before they go
        cluster.kubectl("delete", "namespace", drifting, "--wait=false", check=False)
    pods = eventually(  # the old pods gone, not only terminating
        lambda: installed.get("pods", "-l", OPERATOR_POD_LABEL)["items"],
        until=lambda pods: len(pods) == 2,
        timeout=90,
        what="two operator pods, the old ones gone",
    )
    assert leader.name in {p["metadata"]["name"] for p in pods}
    assert {p["spec"]["containers"][0]["image"] for p in pods} == {f"{repository}:{ROLL_TAG}"}
    assert sorted(p.role() for p in installed.pods()) == ["leader", "standby"]
    wait_phase(cluster, namespace, name, timeout=120)
    writes = operator_writes(audit_log, installed.since)
    writers = _writers([w for w in writes if w.received >= roll_since])
    assert leader.name in writers and len(writers) >= 2, writers  # the old leader's term and the new one's
    assert_one_writer_at_a_time(writes)
    assert_writes_within_terms(writes)
    print(f"[figures] operator rolled to a new tag in {rolled - started:.1f}s; {len(writes)} audited writes")

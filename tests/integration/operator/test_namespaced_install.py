"""The namespaced install, for real: `run --namespace A --namespace B` on a ServiceAccount with Roles only.

The RBAC comes from deploy/overlays/namespaced, built with the cluster's kubectl: its per-namespace Role and
RoleBinding are put in two fresh namespaces A and B, its Velero Role in Velero's namespace and its Lease Role
in the operator's own (a fresh one too, so no grant from another install's ClusterRoleBinding can help).
The operator runs as a local process with a token of that ServiceAccount:

- a WebStack in A (the full sample: Velero Schedule, ServiceMonitor, Rollout...) and one in B become Ready;
- a WebStack in a third namespace C is ignored: no status, no finalizer, no children;
- the log holds no RBAC denial at all (every list and watch is in a namespace a Role covers), and /healthz
  reports healthy;
- deleting the stack in A runs the finalizer, which deletes the Schedule from Velero's namespace.

Only one operator may run against the cluster: the shared one is stopped for this module.
"""

from __future__ import annotations

import copy
import json
import re
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.fixtures import apply_doc
from tests.support.operator import SAMPLES, OperatorProcess, get_json, operators_on, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localservices.server import LOOPBACK

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
OVERLAY = ROOT / "deploy" / "overlays" / "namespaced"
ACCOUNT = "webstack-operator"
EXAMPLE_NAMESPACE = "team-a"  # the overlay's first served namespace: its Role is the one copied
VELERO = "velero"
LEASE = "webstack-operator"
# An RBAC denial as the apiserver words it, as our client logs it (403 Forbidden), or as kopf warns of it.
DENIED = re.compile(r"cannot \w+ resource|Forbidden|Not enough permissions")


def build_overlay(cluster: KubeTarget) -> list[dict[str, Any]]:
    out = cluster.kubectl("kustomize", str(OVERLAY)).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def pick(objects: list[dict[str, Any]], kind: str, namespace: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind and o["metadata"].get("namespace") == namespace]


def moved(obj: dict[str, Any], namespace: str, operator_namespace: str, suffix: str = "") -> dict[str, Any]:
    """A copy in `namespace` (its name with `suffix`), bound to the ServiceAccount in `operator_namespace`."""
    doc = copy.deepcopy(obj)
    doc["metadata"]["namespace"] = namespace
    doc["metadata"]["name"] += suffix
    if doc["kind"] == "RoleBinding":
        doc["roleRef"]["name"] += suffix
        for subject in doc["subjects"]:
            subject["namespace"] = operator_namespace
    return doc


def can_i(cluster: KubeTarget, user: str, verb: str, resource: str, *where: str) -> bool:
    result = cluster.kubectl("auth", "can-i", verb, resource, f"--as={user}", *where, check=False)
    return result.stdout.strip() == "yes"


def healthz(proc: OperatorProcess) -> tuple[int, dict[str, Any]]:
    with urllib.request.urlopen(f"http://{LOOPBACK}:{proc.liveness_port}/healthz", timeout=2) as r:
        return int(r.status), dict(json.load(r))


@dataclass
class Install:
    cluster: KubeTarget
    kubeconfig: Path
    operator_namespace: str
    served: tuple[str, str]
    ignored: str
    user: str


def stack_doc(sample: str, namespace: str) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / sample).read_text())
    doc["metadata"]["namespace"] = namespace
    return dict(doc)


def owned(cluster: KubeTarget, namespace: str, name: str) -> list[str]:
    return cluster.kubectl(
        "get",
        "all,configmaps,secrets,serviceaccounts",
        "-n",
        namespace,
        "-l",
        f"app.kubernetes.io/instance={name}",
        "-o",
        "name",
    ).stdout.split()


def schedules(cluster: KubeTarget, namespace: str, name: str) -> list[str]:
    """The stack's Velero Schedules, found by its labels (as the finalizer finds them)."""
    selector = f"app.kubernetes.io/instance={name},webstack.dev/stack-namespace={namespace}"
    found = cluster.kubectl("get", "schedules.velero.io", "-n", VELERO, "-l", selector, "-o", "name")
    return found.stdout.split()


def test_the_overlay_grants_no_cluster_wide_role(platform: KubeTarget) -> None:
    """Built with the cluster's kubectl: Roles where the operator works, no ClusterRole or binding at all."""
    objects = build_overlay(platform)
    kinds = {o["kind"] for o in objects}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}, kinds
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects if o["kind"] == "Role"}
    bindings = {
        (o["metadata"]["namespace"], o["roleRef"]["name"]) for o in objects if o["kind"] == "RoleBinding"
    }
    assert roles == bindings
    assert {ns for ns, _ in roles} == {"team-a", "team-b", VELERO, "webstack-system"}
    [deployment] = [o for o in objects if o["kind"] == "Deployment"]
    args = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
    assert [a for a in args if a.startswith("--namespace=")] == ["--namespace=team-a", "--namespace=team-b"]
    # The rendered Role reads no cluster-scoped resource (a RoleBinding could not grant one anyway).
    for role in (o for o in objects if o["kind"] == "Role"):
        resources = {r for rule in role["rules"] for r in rule["resources"]}
        assert "customresourcedefinitions" not in resources and "namespaces" not in resources


@pytest.fixture(scope="module")
def install(platform: KubeTarget, operator: OperatorProcess) -> Iterator[Install]:
    """The overlay's Roles for a fresh ServiceAccount in a fresh operator namespace, serving two fresh
    namespaces; a third namespace is left without any grant. The shared operator stopped meanwhile."""
    suffix = uuid.uuid4().hex[:6]
    operator_ns, a, b, c = (f"nsd-{part}-{suffix}" for part in ("op", "a", "b", "c"))
    user = f"system:serviceaccount:{operator_ns}:{ACCOUNT}"
    objects = build_overlay(platform)
    for ns in (operator_ns, a, b, c):
        platform.kubectl("create", "namespace", ns)
    platform.kubectl("create", "serviceaccount", ACCOUNT, "-n", operator_ns)
    rbac = [
        *(moved(o, ns, operator_ns) for ns in (a, b) for o in pick(objects, "Role", EXAMPLE_NAMESPACE)),
        *(
            moved(o, ns, operator_ns)
            for ns in (a, b)
            for o in pick(objects, "RoleBinding", EXAMPLE_NAMESPACE)
        ),
        *(
            moved(o, operator_ns, operator_ns)
            for kind in ("Role", "RoleBinding")
            for o in pick(objects, kind, "webstack-system")
        ),
        # Velero's namespace is shared with other tests: this install's names carry the suffix.
        *(
            moved(o, VELERO, operator_ns, f"-{suffix}")
            for kind in ("Role", "RoleBinding")
            for o in pick(objects, kind, VELERO)
        ),
    ]
    assert len(rbac) == 8, [(o["kind"], o["metadata"]) for o in rbac]
    for doc in rbac:
        platform.apply(doc)
    eventually(
        lambda: all(can_i(platform, user, "list", "deployments.apps", "-n", ns) for ns in (a, b)),
        timeout=30,
        what=f"the Roles in {a} and {b} in force",
    )
    eventually(
        lambda: can_i(platform, user, "watch", "schedules.velero.io", "-n", VELERO),
        timeout=30,
        what="velero Role",
    )
    assert not can_i(platform, user, "list", "deployments.apps", "-A")  # nothing cluster-wide
    assert not can_i(platform, user, "list", "webstacks.webstack.dev", "-n", c)
    kubeconfig = platform.mint_kubeconfig(operator_ns, ACCOUNT)
    operator.stop()
    others = operators_on(platform.kubeconfig_path)
    assert not others, (
        f"other operators still run against this cluster (pids {others}): one shared fixture only"
    )
    try:
        yield Install(platform, kubeconfig, operator_ns, (a, b), c, user)
    finally:
        for ns in (a, b, c, operator_ns):
            platform.kubectl("delete", "namespace", ns, "--wait=false", check=False)
        for doc in rbac:
            if doc["metadata"]["namespace"] == VELERO:
                platform.kubectl(
                    "delete", doc["kind"].lower(), doc["metadata"]["name"], "-n", VELERO, check=False
                )
        # The shared operator's own Lease (`default` without POD_NAMESPACE), held when it was stopped.
        lease_ns = operator.extra_env.get("WEBSTACK_LEASE_NAMESPACE", "default")
        platform.kubectl("delete", "lease", LEASE, "-n", lease_ns, "--ignore-not-found")
        operator.start()
        eventually(
            lambda: healthz(operator)[1]["role"],
            until=lambda r: r == "leader",
            timeout=30,
            what="shared operator leads",
        )


def test_an_operator_on_namespaced_roles_serves_exactly_its_namespaces(
    install: Install, tmp_path: Path
) -> None:
    cluster, (a, b), c = install.cluster, install.served, install.ignored
    full, minimal, ignored = (
        stack_doc("webstack-full.yaml", a),
        stack_doc("webstack-minimal.yaml", b),
        stack_doc("webstack-minimal.yaml", c),
    )
    proc = OperatorProcess(
        install.kubeconfig,
        tmp_path,
        env={"WEBSTACK_LEASE_NAMESPACE": install.operator_namespace},
        namespaces=(a, b),
    ).start()
    try:
        for doc in (full, minimal, ignored):
            apply_doc(cluster, doc)
        wait_phase(cluster, b, minimal["metadata"]["name"], timeout=120)
        wait_phase(cluster, a, full["metadata"]["name"], timeout=240)
        # Written where the Velero Role is.
        assert len(schedules(cluster, a, full["metadata"]["name"])) == 1

        # C: never touched (by now both served stacks are Ready; C's was applied with them).
        ws = get_json(cluster, "webstack", ignored["metadata"]["name"], "-n", c)
        assert "status" not in ws and not ws["metadata"].get("finalizers"), ws
        assert owned(cluster, c, ignored["metadata"]["name"]) == []

        code, body = healthz(proc)
        assert (code, body["status"], body["role"], body["problems"]) == (200, "ok", "leader", []), body
        log = proc.log_path.read_text(errors="replace")
        assert not re.search(DENIED, log), proc.tail()
        assert proc.metric("webstack_api_errors_total", status="403") == 0

        # The finalizer finds the Schedule in Velero's namespace (it may list nowhere else) and deletes it.
        cluster.kubectl("delete", "webstack", full["metadata"]["name"], "-n", a, "--timeout=90s")
        eventually(
            lambda: schedules(cluster, a, full["metadata"]["name"]),
            until=lambda found: found == [],
            timeout=30,
            what="the Velero Schedule deleted by the finalizer",
        )
        cluster.kubectl("delete", "webstack", minimal["metadata"]["name"], "-n", b, "--timeout=90s")
        log = proc.log_path.read_text(errors="replace")
        assert not re.search(DENIED, log), proc.tail()
    finally:
        proc.stop()

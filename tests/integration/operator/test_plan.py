"""`kubectl webstack plan` and `status` against the local control plane and the shared operator.

One stack is applied and Ready; each plan then changes one thing in the file (or by hand in the cluster)
and checks exactly what the plan says, in its JSON and in its text. The same installed executable kubectl
runs as a plugin is what runs here. With WEBSTACK_PLAN_OUTPUT=<dir>, each text output is saved there
(the README's quick tour shows them).
"""

from __future__ import annotations

import json
import os
import re
import select
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.fixtures import apply_doc
from tests.support.operator import SAMPLES, OperatorProcess, condition, get_json, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localservices import console_script

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
NEW_IMAGE = "ghcr.io/webstack-dev/users-api:0.2.0"
PLAN_ROLE = ROOT / "deploy" / "team" / "plan-role.yaml"
MANAGER = "test"  # apply_doc's field manager: plans merge the file as that apply would


def stack_doc(namespace: str, **spec: Any) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / "webstack-minimal.yaml").read_text())
    doc["metadata"]["namespace"] = namespace
    doc["spec"].update(spec)
    return dict(doc)


def webstack(
    kubeconfig: Path, *args: str, doc: dict[str, Any] | None = None, save: str = ""
) -> subprocess.CompletedProcess[str]:
    """The installed `kubectl-webstack`, a file from `doc` given as stdin (`-f -`)."""
    result = subprocess.run(
        [console_script("kubectl-webstack"), *args, "--kubeconfig", str(kubeconfig)],
        input=yaml.safe_dump(doc) if doc is not None else None,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    out_dir = os.environ.get("WEBSTACK_PLAN_OUTPUT")
    if save and out_dir:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        (Path(out_dir) / f"{save}.txt").write_text(result.stdout + result.stderr)
    print(f"$ kubectl webstack {' '.join(args)}\n{result.stdout}{result.stderr}(exit {result.returncode})")
    return result


def plan(
    cluster: KubeTarget, doc: dict[str, Any], *extra: str, save: str = "", kubeconfig: Path | None = None
) -> tuple[int, dict[str, Any], str]:
    """(exit code, the JSON plan, the text plan) of one file."""
    config = kubeconfig or cluster.kubeconfig_path
    args = ("plan", "-f", "-", "--field-manager", MANAGER, *extra)
    as_json = webstack(config, *args, "-o", "json", doc=doc)
    as_text = webstack(config, *args, doc=doc, save=save)
    assert as_json.returncode == as_text.returncode, as_text.stderr
    return as_json.returncode, json.loads(as_json.stdout), as_text.stdout + as_text.stderr


def changed(result: dict[str, Any]) -> dict[str, list[tuple[str, str]]]:
    """Action -> [(kind, name)] of every object that is not unchanged."""
    out: dict[str, list[tuple[str, str]]] = {}
    for o in result["stacks"][0]["objects"]:
        if o["action"] != "unchanged":
            out.setdefault(o["action"], []).append((o["kind"], o["name"]))
    return out


def the(result: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    return next(o for o in result["stacks"][0]["objects"] if (o["kind"], o["name"]) == (kind, name))


@pytest.fixture(scope="module")
def shop(platform: KubeTarget, operator: OperatorProcess) -> Iterator[str]:
    """A namespace with the minimal stack `shop`, Ready."""
    ns = f"plan-{uuid.uuid4().hex[:6]}"
    platform.kubectl("create", "namespace", ns)
    apply_doc_as(platform, stack_doc(ns))
    wait_phase(platform, ns, "shop")
    yield ns
    platform.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def apply_doc_as(cluster: KubeTarget, doc: dict[str, Any]) -> None:
    apply_doc(cluster, doc)  # manager `test`, with --force-conflicts


def test_kubectl_finds_the_plugin_and_a_plan_without_changes_lists_nothing(
    platform: KubeTarget, shop: str
) -> None:
    bin_dir = str(Path(console_script("kubectl-webstack")).parent)
    env = {
        **os.environ,
        "PATH": f"{bin_dir}:{os.environ.get('PATH', '')}",
        "KUBECONFIG": str(platform.kubeconfig_path),
    }
    listed = subprocess.run(
        [str(platform.kubectl_path), "plugin", "list"], capture_output=True, text=True, env=env, timeout=60
    )
    assert f"{bin_dir}/kubectl-webstack" in listed.stdout, listed.stdout + listed.stderr

    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"{shop}-stack.yaml"
    path.write_text(yaml.safe_dump(stack_doc(shop)))
    through_kubectl = subprocess.run(
        [str(platform.kubectl_path), "webstack", "plan", "-f", str(path), "--field-manager", MANAGER],
        capture_output=True,
        text=True,
        env={**env, "NO_COLOR": "1"},
        timeout=120,
    )
    path.unlink()
    assert through_kubectl.returncode == 0, through_kubectl.stdout + through_kubectl.stderr
    assert "No changes" in through_kubectl.stdout

    code, result, text = plan(platform, stack_doc(shop), save="plan-no-change")
    assert code == 0, text
    assert changed(result) == {}
    assert result["changes"] is False and result["errors"] == []
    assert len(text.strip().splitlines()) == 2, text  # the stack's name, and "No changes"


def test_a_new_image_changes_exactly_the_backend_workload(platform: KubeTarget, shop: str) -> None:
    backend = {"image": NEW_IMAGE}
    code, result, text = plan(platform, stack_doc(shop, backend=backend), save="plan-new-image")
    assert code == 2, text
    actions = changed(result)
    assert actions.pop("update") == [("Deployment", "shop-backend")]
    # The migration Job is named after its pod template: a new image is a new Job, the old one pruned.
    assert [kind for kind, _ in actions.pop("create")] == ["Job"]
    assert [kind for kind, _ in actions.pop("delete")] == ["Job"]
    assert actions == {}
    fields = the(result, "Deployment", "shop-backend")["fields"]
    assert fields == [
        {"path": "spec.template.spec.containers[name=backend].image", "before": IMAGE, "after": NEW_IMAGE}
    ]
    assert f'"{IMAGE}" -> "{NEW_IMAGE}"' in text


def test_monitoring_switched_off_deletes_its_objects(platform: KubeTarget, shop: str) -> None:
    code, result, text = plan(
        platform, stack_doc(shop, monitoring={"enabled": False}), save="plan-monitoring-off"
    )
    assert code == 2, text
    deleted = set(changed(result)["delete"])
    assert {
        ("ServiceMonitor", "shop-backend"),
        ("PrometheusRule", "shop-alerts"),
        ("ConfigMap", "shop-dashboard"),
    } <= deleted
    monitoring = [o for o in result["stacks"][0]["objects"] if o["component"] == "monitoring"]
    assert {o["action"] for o in monitoring} == {"delete"}
    assert "- delete    ServiceMonitor shop-backend" in text


def test_an_invalid_spec_shows_the_api_servers_message(platform: KubeTarget, shop: str) -> None:
    doc = stack_doc(shop, frontend={"replicas": 0})
    code, result, text = plan(platform, doc)
    assert code == 1
    assert result["stacks"] == []
    assert "spec.frontend.replicas" in result["errors"][0] and "greater than or equal to 1" in text
    assert "the API server refuses it" in text
    # A CEL rule of the CRD, in the API server's words.
    code, result, text = plan(platform, stack_doc(shop, ingress={"enabled": True}))
    assert code == 1 and result["stacks"] == []
    assert "spec.ingress.host" in result["errors"][0], text
    assert "host is required when ingress is enabled" in result["errors"][0], text


def test_hand_edits_are_drift_and_a_foreign_object_is_a_conflict(platform: KubeTarget, shop: str) -> None:
    # Paused, the operator corrects nothing: what is edited by hand stays as the plan sees it.
    apply_doc_as(platform, stack_doc(shop, paused=True))
    eventually(
        lambda: get_json(platform, "webstack", "shop", "-n", shop),
        until=lambda ws: condition(ws, "Reconciled")["reason"] == "Paused",
        what="the stack paused",
    )
    platform.kubectl("scale", "deployment", "shop-frontend", "-n", shop, "--replicas=4")
    code, result, text = plan(platform, stack_doc(shop), save="plan-drift")
    assert code == 2, text
    assert changed(result) == {"drift": [("Deployment", "shop-frontend")]}
    fields = the(result, "Deployment", "shop-frontend")["fields"]
    assert fields == [{"path": "spec.replicas", "before": 4, "after": 2, "takenBy": "kubectl (/scale)"}]

    # A user's own Service where the stack's Redis Service was.
    platform.kubectl("delete", "service", "shop-redis", "-n", shop)
    platform.kubectl("create", "service", "clusterip", "shop-redis", "-n", shop, "--tcp=6379:6379")
    code, result, text = plan(platform, stack_doc(shop), save="plan-conflict")
    assert code == 2, text
    assert changed(result) == {
        "drift": [("Deployment", "shop-frontend")],
        "conflict": [("Service", "shop-redis")],
    }
    assert "not created by this WebStack" in the(result, "Service", "shop-redis")["message"]

    platform.kubectl("delete", "service", "shop-redis", "-n", shop)
    apply_doc_as(platform, stack_doc(shop, paused=False))
    wait_phase(platform, shop, "shop")
    eventually(
        lambda: plan(platform, stack_doc(shop))[0],
        until=lambda code: code == 0,
        what="no change once the operator restored what was edited",
    )


def test_a_namespace_scoped_role_is_enough(platform: KubeTarget, shop: str) -> None:
    """A team's account with only deploy/team/plan-role.yaml in its namespace plans as an admin does."""
    platform.kubectl("create", "serviceaccount", "developer", "-n", shop)
    platform.kubectl("apply", "-n", shop, "-f", str(PLAN_ROLE))
    platform.kubectl(
        "create",
        "rolebinding",
        "developer-plan",
        "-n",
        shop,
        "--role=webstack-plan",
        f"--serviceaccount={shop}:developer",
    )
    developer = platform.mint_kubeconfig(shop, "developer")
    doc = stack_doc(shop, backend={"image": NEW_IMAGE})
    code, as_developer, text = plan(platform, doc, kubeconfig=developer)
    assert code == 2, text
    _, as_admin, _ = plan(platform, doc)
    assert as_developer["stacks"][0]["objects"] == as_admin["stacks"][0]["objects"]
    # Velero's namespace is not the team's: what prune would delete there is not known, and it says so.
    assert as_developer["stacks"][0]["notes"] == [
        "cannot list Schedule in velero (forbidden): deletions there not shown"
    ]

    # Without patch on Deployments and StatefulSets, the dry run is refused: the verbs listed are needed.
    role = yaml.safe_load(PLAN_ROLE.read_text())
    for rule in role["rules"]:
        if "deployments" in rule["resources"]:
            rule["verbs"] = ["get", "list", "create"]
    platform.kubectl("apply", "-n", shop, "-f", "-", input=json.dumps(role))
    code, _, text = plan(platform, doc, kubeconfig=developer)
    assert code == 1
    assert re.search(r'cannot patch resource "(deployments|statefulsets)"', text.replace('\\"', '"')), text
    platform.kubectl("delete", "rolebinding", "developer-plan", "-n", shop)


@pytest.fixture
def no_volumes(platform: KubeTarget, operator: OperatorProcess) -> Iterator[str]:
    """A namespace where no PersistentVolumeClaim may be created: Postgres never gets its volume."""
    ns = f"status-{uuid.uuid4().hex[:6]}"
    platform.kubectl("create", "namespace", ns)
    platform.kubectl("create", "quota", "no-volumes", "-n", ns, "--hard=persistentvolumeclaims=0")
    yield ns
    platform.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_status_names_postgres_as_the_blocker_and_watch_ends_when_ready(
    platform: KubeTarget, no_volumes: str
) -> None:
    ns = no_volumes
    apply_doc_as(platform, stack_doc(ns))
    eventually(
        lambda: get_json(platform, "webstack", "shop", "-n", ns),
        until=lambda ws: (
            condition(ws, "DatabaseReady")["status"] == "False"
            and condition(ws, "BackendAvailable")["status"] == "True"
        ),
        timeout=90,
        what="the backend available while Postgres waits for its volume",
    )
    shown = webstack(platform.kubeconfig_path, "status", "shop", "-n", ns, save="status-blocked")
    assert shown.returncode == 0, shown.stderr
    first = shown.stdout.splitlines()[0]
    assert first.startswith("Blocked by Postgres (StatefulSet shop-postgres)"), shown.stdout
    assert "Postgres" in first
    assert "StatefulSet shop-postgres" in shown.stdout and "0/1" in shown.stdout

    watch = subprocess.Popen(
        [
            console_script("kubectl-webstack"),
            "status",
            "shop",
            "-n",
            ns,
            "--watch",
            "--interval",
            "0.5",
            "--kubeconfig",
            str(platform.kubeconfig_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NO_COLOR": "1"},
    )
    try:
        assert watch.stdout is not None
        ready, _, _ = select.select([watch.stdout], [], [], 30)  # its first print, still blocked
        assert ready, "status --watch printed nothing within 30 s"
        first = watch.stdout.readline()
        assert first.startswith("Blocked by Postgres (StatefulSet shop-postgres)"), first
        platform.kubectl("delete", "quota", "no-volumes", "-n", ns)
        # The StatefulSet controller retries its failed volume claim with backoff; a change wakes it now.
        platform.kubectl("annotate", "statefulset", "shop-postgres", "-n", ns, "test/nudge=1")
        out, err = watch.communicate(timeout=120)
    finally:
        watch.kill()
    assert watch.returncode == 0, out + err
    # The rest of the first print may be lost with readline's buffer; the last print is what counts.
    last = out.strip().split("\n\n")[-1]
    assert last.startswith("Ready: nothing blocks this stack"), first + out
    assert wait_phase(platform, ns, "shop")["status"]["phase"] == "Ready"

"""`kubectl webstack report` against the local control plane and the shared operator.

One minimal stack is applied and Ready. The report is made as an admin and as a team's account with only
deploy/team/plan-role.yaml; each ZIP is opened and read: what it must hold, what it must not (no password
the operator generated, in any form the suite's final scan searches for), and what it says it could not
read. Every extracted file is kept (kubelocal.leaks.keep_log) for tests/zz_final's search of the run.
"""

from __future__ import annotations

import importlib.metadata
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.support.fixtures import apply_doc
from tests.support.operator import SAMPLES, OperatorProcess, get_json, wait_phase
from tests.support.report_bundle import assert_no_password, extracted, report

from kubelocal import leaks
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localservices.passwords import generated_passwords

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
PLAN_ROLE = ROOT / "deploy" / "team" / "plan-role.yaml"
STACK = "shop"
OPERATOR_LABEL = "app.kubernetes.io/name=webstack-operator"
CHILD_KINDS = ("deployments", "statefulsets", "services", "configmaps", "networkpolicies", "jobs")


@pytest.fixture(scope="module")
def shop(platform: KubeTarget, operator: OperatorProcess) -> Iterator[str]:
    """A namespace with the minimal stack `shop`, Ready; its passwords noted before the namespace goes."""
    ns = f"report-{uuid.uuid4().hex[:6]}"
    platform.kubectl("create", "namespace", ns)
    doc = yaml.safe_load((SAMPLES / "webstack-minimal.yaml").read_text())
    doc["metadata"]["namespace"] = ns
    apply_doc(platform, doc)
    wait_phase(platform, ns, STACK)
    yield ns
    leaks.harvest(platform.kubeconfig_path)
    platform.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def stack_passwords(cluster: KubeTarget, ns: str) -> list[str]:
    secrets = get_json(cluster, "secrets", "-n", ns, "-l", f"app.kubernetes.io/instance={STACK}")
    found = generated_passwords(secrets)
    assert found, "the minimal stack has generated credentials"
    return found


def note_event_with_password(cluster: KubeTarget, ns: str, password: str) -> str:
    """An Event about the WebStack whose message holds a generated password, as a careless log line might:
    the report must strike it. Sent on stdin, by an account the lab's audit policy does not record."""
    ws = get_json(cluster, "webstack", STACK, "-n", ns)
    name = f"{STACK}.report-{uuid.uuid4().hex[:6]}"
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": {
            "apiVersion": ws["apiVersion"],
            "kind": "WebStack",
            "name": STACK,
            "namespace": ns,
            "uid": ws["metadata"]["uid"],
        },
        "reason": "ReportCheck",
        "message": f"connecting with password={password} failed",
        "type": "Warning",
        "source": {"component": "test-report"},
    }
    cluster.kubectl("create", "-f", "-", input=json.dumps(event))
    return name


def test_the_admins_report_holds_the_stack_and_no_password(
    platform: KubeTarget, shop: str, fake_operator_ns: str, tmp_path: Path
) -> None:
    passwords = stack_passwords(platform, shop)
    event = note_event_with_password(platform, shop, passwords[0])
    zip_path = tmp_path / "report.zip"
    args = (STACK, "-n", shop, "-o", str(zip_path), "--operator-namespace", fake_operator_ns)
    result = report(platform.kubeconfig_path, *args)
    assert result.returncode == 0, result.stderr
    files = extracted(zip_path, tmp_path / "admin", "admin")

    assert_no_password(files, passwords, tmp_path / "admin")
    manifest = json.loads(files["manifest.json"])
    assert {f["path"] for f in manifest["files"]} | {"manifest.json"} == set(files)
    assert manifest["webstack"] == {"namespace": shop, "name": STACK}
    assert manifest["redactions"].get("events.yaml", 0) >= 1
    assert "Secret values were never written" in files["README.txt"]

    ws = yaml.safe_load(files["webstack.yaml"])
    assert (ws["metadata"]["name"], ws["status"]["phase"]) == (STACK, "Ready")
    for plural in CHILD_KINDS:
        for child in get_json(platform, plural, "-n", shop, "-l", f"app.kubernetes.io/instance={STACK}")[
            "items"
        ]:
            assert f"children/{child['kind']}-{child['metadata']['name']}.yaml" in files, (
                plural,
                sorted(files),
            )
    assert_secrets_are_key_names(platform, shop, files)

    [noted] = [e for e in yaml.safe_load(files["events.yaml"])["items"] if e["metadata"]["name"] == event]
    assert noted["message"] == "connecting with password=<redacted> failed"
    assert "No changes" in files["plan.txt"], files["plan.txt"]
    assert json.loads(files["plan.json"])["changes"] is False
    assert_versions(yaml.safe_load(files["versions.yaml"]), fake_operator_ns)
    assert_operator_pod_accounted(files, fake_operator_ns)


def assert_secrets_are_key_names(cluster: KubeTarget, ns: str, files: dict[str, str]) -> None:
    secrets = get_json(cluster, "secrets", "-n", ns, "-l", f"app.kubernetes.io/instance={STACK}")["items"]
    assert secrets
    for secret in secrets:
        shown = yaml.safe_load(files[f"secrets/{secret['metadata']['name']}.yaml"])
        assert shown["keys"] == sorted(secret.get("data") or {})
        assert "data" not in shown and "stringData" not in shown


def assert_versions(versions: dict[str, Any], operator_ns: str) -> None:
    assert versions["plugin"]["version"] == importlib.metadata.version("webstack-operator")
    assert versions["kubernetes"]["gitVersion"].startswith("v1.")
    assert {"name": "v1alpha1", "served": True, "storage": True} in versions["crd"]["versions"]
    assert [i["image"] for i in versions["operator"]["images"]] == ["webstack-operator:report-test"]


@pytest.fixture
def fake_operator_ns(platform: KubeTarget) -> Iterator[str]:
    ns = fake_operator_pod(platform)
    yield ns
    platform.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def fake_operator_pod(cluster: KubeTarget) -> str:
    """A namespace holding one pod labelled as the operator's (the shared operator is a host process): the
    report must account for its logs and metrics, read or refused (a kwok node serves no logs)."""
    ns = f"report-op-{uuid.uuid4().hex[:6]}"
    cluster.kubectl("create", "namespace", ns)
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "operator-0",
            "namespace": ns,
            "labels": {"app.kubernetes.io/name": "webstack-operator"},
        },
        "spec": {
            "containers": [
                {
                    "name": "operator",
                    "image": "webstack-operator:report-test",
                    "ports": [{"name": "metrics", "containerPort": 8081}],
                }
            ]
        },
    }
    cluster.kubectl("apply", "-f", "-", input=json.dumps(pod))
    eventually(
        lambda: get_json(cluster, "pod", "operator-0", "-n", ns),
        until=lambda p: (p.get("status") or {}).get("phase") == "Running",
        timeout=60,
        what=f"pod {ns}/operator-0 Running",
    )
    return ns


def assert_operator_pod_accounted(files: dict[str, str], ns: str) -> None:
    refusals = files["refusals.txt"].splitlines()
    log_refused = any(r.startswith(f"logs of pod {ns}/operator-0 container operator:") for r in refusals)
    assert log_refused != ("operator/logs/operator-0-operator.log" in files), refusals
    metrics_refused = any(r.startswith(f"/metrics of pod {ns}/operator-0:") for r in refusals)
    assert metrics_refused != ("operator/metrics/operator-0.txt" in files), refusals


def test_a_team_account_gets_a_report_that_says_what_it_could_not_read(
    platform: KubeTarget, shop: str, tmp_path: Path
) -> None:
    platform.kubectl("create", "serviceaccount", "reporter", "-n", shop)
    platform.kubectl("apply", "-n", shop, "-f", str(PLAN_ROLE))
    platform.kubectl(
        "create",
        "rolebinding",
        "reporter-plan",
        "-n",
        shop,
        "--role=webstack-plan",
        f"--serviceaccount={shop}:reporter",
    )
    reporter = platform.mint_kubeconfig(shop, "reporter")
    zip_path = tmp_path / "team.zip"
    result = report(reporter, STACK, "-o", str(zip_path))  # the kubeconfig's namespace
    assert result.returncode == 0, result.stderr
    files = extracted(zip_path, tmp_path / "team", "team")
    assert_no_password(files, stack_passwords(platform, shop), tmp_path / "team")

    refused = {line.split(":")[0] for line in files["refusals.txt"].splitlines()}
    assert {
        f"Events in {shop}",
        f"Pods of WebStack {shop}/{STACK}",
        "operator pods in webstack-system",
        "CustomResourceDefinition webstacks.webstack.dev",
    } <= refused, refused
    assert all("403" in line for line in files["refusals.txt"].splitlines()), files["refusals.txt"]
    assert f"Events in {shop}: 403 Forbidden" in files["README.txt"]
    assert {"webstack.yaml", "plan.txt", "versions.yaml"} <= set(files)
    assert any(name.startswith("secrets/") for name in files)  # the role may list Secrets: key names only
    assert "No changes" in files["plan.txt"]


def test_a_stack_that_does_not_exist_is_an_error_and_writes_nothing(
    platform: KubeTarget, shop: str, tmp_path: Path
) -> None:
    zip_path = tmp_path / "none.zip"
    result = report(platform.kubeconfig_path, "nosuch", "-n", shop, "-o", str(zip_path))
    assert result.returncode == 1
    assert f"error: WebStack {shop}/nosuch not found" in result.stderr
    assert not zip_path.exists() and not list(tmp_path.iterdir())

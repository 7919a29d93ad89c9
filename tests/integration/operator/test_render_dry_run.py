"""What the operator applies for each sample is accepted by a real apiserver with the REAL third-party
CRDs (Argo Rollouts, Prometheus Operator, Velero, Sealed Secrets, External Secrets; versions in
tools/go/thirdparty-crds.env): server-side apply, dry run, strict field validation (an unknown field
fails)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
import yaml

from kubelocal.target import KubeTarget
from webstack_operator.api.spec import parse_spec
from webstack_operator.builders.context import OwnerRef, StackContext
from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.config.operator_settings import Capabilities
from webstack_operator.config.run_options import load_settings
from webstack_operator.kube.jsondata import JSON

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
SAMPLES = sorted((ROOT / "deploy" / "samples").glob("*.yaml"))
NO_OPTIONAL_APIS = Capabilities(False, False, False, False, False)
FAKE_UID = "0c6b0a52-5a0e-4c39-9a51-4f3d1e0c9d11"


@pytest.fixture(scope="module")
def platform_crds(cluster: KubeTarget) -> KubeTarget:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    cluster.install_thirdparty_crds()
    cluster.wait_established(["webstacks.webstack.dev"])
    return cluster


def _stack_objects(cluster: KubeTarget, sample: Path, capabilities: Capabilities) -> list[JSON]:
    """The sample WebStack itself, then every object the operator would apply for it (owner references
    included; a dry run stores nothing, so a made-up uid is enough and no operator ever reconciles it)."""
    doc = yaml.safe_load(sample.read_text(encoding="utf-8"))
    meta = doc["metadata"]
    for ns in (meta["namespace"], "velero"):
        if cluster.kubectl("get", "namespace", ns, check=False).returncode != 0:
            cluster.kubectl("create", "namespace", ns)
    settings = load_settings(os.environ)
    ctx = StackContext(
        spec=parse_spec(doc),
        name=meta["name"],
        namespace=meta["namespace"],
        settings=dataclasses.replace(settings, capabilities=capabilities),
        owner=OwnerRef(api_version=doc["apiVersion"], kind=doc["kind"], name=meta["name"], uid=FAKE_UID),
        generated_password="dry-run-password-0123456789abcdef",
        generated_cache_password="dry-run-cache-password-0123456789",
    )
    return [doc, *desired_objects(ctx)]


def _dry_run_apply(cluster: KubeTarget, objects: list[JSON]) -> list[str]:
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=webstack-operator",
        "--force-conflicts",
        "--validate=strict",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects}),
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return [line for line in result.stdout.splitlines() if "serverside-applied" in line]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_every_rendered_object_is_accepted(platform_crds: KubeTarget, sample: Path) -> None:
    objects = _stack_objects(platform_crds, sample, Capabilities())
    applied = _dry_run_apply(platform_crds, objects)
    assert len(applied) == len(objects), "\n".join(applied)


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: p.stem)
def test_fallback_without_optional_apis_is_accepted(platform_crds: KubeTarget, sample: Path) -> None:
    objects = _stack_objects(platform_crds, sample, NO_OPTIONAL_APIS)
    assert {o["apiVersion"].split("/")[0] for o in objects[1:]} <= {
        "v1",
        "apps",
        "policy",
        "networking.k8s.io",
        "autoscaling",
        "batch",  # the migration Job
    }
    applied = _dry_run_apply(platform_crds, objects)
    assert len(applied) == len(objects)

"""Placement on a real kube-apiserver and scheduler: bad placements refused with the models' words, the EKS
sample accepted, and a stack's placement on its live children and where the scheduler put their pods."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from tests.support.fixtures import apply_webstack
from tests.support.operator import (
    SAMPLES,
    OperatorProcess,
    dry_run_apply,
    get_json,
    scratch_namespace,
    webstack_doc,
)
from tests.support.placement_cases import (
    BAD_SELECTOR_KEY,
    IMAGE,
    INVALID,
    INVALID_BY_SCHEMA,
    SPOT_TOLERATION,
    VALID,
    spread,
    with_placement,
)
from tests.support.rendered_stacks import render

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from webstack_operator.api.field_types import SELECTOR_KEY_MESSAGE
from webstack_operator.api.spec import WebStackSpec

pytestmark = pytest.mark.cluster

EKS_SAMPLE = SAMPLES / "webstack-eks-placement.yaml"


@pytest.fixture(scope="module")
def dry_run_namespace(platform: KubeTarget) -> Iterator[str]:
    with scratch_namespace(platform, "placement") as name:
        yield name


CASES = INVALID + INVALID_BY_SCHEMA


@pytest.mark.parametrize(("spec", "path", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_the_apiserver_refuses_bad_placement_naming_the_field(
    platform: KubeTarget, dry_run_namespace: str, spec: dict[str, Any], path: str, message: str
) -> None:
    code, err = dry_run_apply(platform, webstack_doc(dry_run_namespace, spec))
    assert code != 0, "the apiserver accepted a bad placement"
    assert path in err and message in err, err


def test_the_apiserver_names_a_bad_node_selector_key(platform: KubeTarget, dry_run_namespace: str) -> None:
    spec = with_placement("spec", {"nodeSelector": {BAD_SELECTOR_KEY: "apps"}})
    code, err = dry_run_apply(platform, webstack_doc(dry_run_namespace, spec))
    assert code != 0 and f"'{BAD_SELECTOR_KEY}' {SELECTOR_KEY_MESSAGE}" in err, err


@pytest.mark.parametrize("placement", [c[1] for c in VALID], ids=[c[0] for c in VALID])
def test_kubernetes_valid_placements_are_accepted_and_so_are_the_pods_they_render(
    platform: KubeTarget, dry_run_namespace: str, placement: dict[str, Any]
) -> None:
    doc = webstack_doc(dry_run_namespace, with_placement("spec", placement))
    result = platform.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(doc))
    assert json.loads(result.stdout)["spec"]["placement"] == placement
    # Kubernetes' own pod validation (matchLabelKeys against the filled-in selector, an empty operator).
    [backend] = [
        o
        for o in render(placement=placement)
        if o["kind"] == "Deployment" and "backend" in o["metadata"]["name"]
    ]
    backend["metadata"] = {"name": backend["metadata"]["name"], "namespace": dry_run_namespace}
    code, err = dry_run_apply(platform, backend)
    assert code == 0, err


def test_the_eks_sample_is_accepted_and_defaulted_like_the_models(
    platform: KubeTarget, dry_run_namespace: str
) -> None:
    doc = yaml.safe_load(EKS_SAMPLE.read_text(encoding="utf-8"))
    doc["metadata"]["namespace"] = dry_run_namespace
    result = platform.kubectl("create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(doc))
    stored = json.loads(result.stdout)["spec"]
    assert stored == WebStackSpec.model_validate(doc["spec"]).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )
    assert stored["database"]["placement"]["tolerations"] == []  # kept: it clears the default


def _kwok_nodes(cluster: KubeTarget) -> list[str]:
    nodes = get_json(cluster, "nodes", "-l", "type=kwok")["items"]
    return sorted(n["metadata"]["name"] for n in nodes)


def _template_spec(cluster: KubeTarget, ns: str, kind: str, name: str) -> dict[str, Any]:
    obj = eventually(
        lambda: get_json(cluster, kind, "-n", ns, "--ignore-not-found").get("items", []),
        until=lambda items: any(i["metadata"]["name"] == name for i in items),
        timeout=60,
        what=f"{kind} {ns}/{name} rendered by the operator",
    )
    [found] = [i for i in obj if i["metadata"]["name"] == name]
    return dict(found["spec"]["template"]["spec"])


def _nodes_of(cluster: KubeTarget, ns: str, component: str, count: int) -> list[str]:
    """The nodes the scheduler bound `count` pods of `component` to, once it has."""
    selector = f"app.kubernetes.io/component={component}"
    pods = eventually(
        lambda: get_json(cluster, "pods", "-n", ns, "-l", selector)["items"],
        until=lambda items: len([p for p in items if p["spec"].get("nodeName")]) >= count,
        timeout=90,
        what=f"{count} {component} pod(s) in {ns} bound to a node",
    )
    return [p["spec"]["nodeName"] for p in pods if p["spec"].get("nodeName")]


def test_a_stacks_placement_is_on_its_live_children_and_the_scheduler_follows_it(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    nodes = _kwok_nodes(platform)
    assert len(nodes) >= 2, nodes
    database_node = nodes[-1]
    spec = {
        "placement": {"nodeSelector": {"type": "kwok"}, "tolerations": [SPOT_TOLERATION]},
        "backend": {
            "image": IMAGE,
            "replicas": 2,
            # Every kwok node is in a zone of its own: two pods, two zones, two nodes.
            "placement": {"topologySpreadConstraints": [spread()]},
        },
        "database": {"placement": {"nodeSelector": {"kubernetes.io/hostname": database_node}}},
    }
    apply_webstack(platform, namespace, "placed", spec)

    backend = _template_spec(platform, namespace, "deployments", "placed-backend")
    assert backend["nodeSelector"] == {"type": "kwok"}
    assert backend["tolerations"] == [SPOT_TOLERATION]
    [zone_spread] = backend["topologySpreadConstraints"]
    assert zone_spread["labelSelector"]["matchLabels"]["app.kubernetes.io/component"] == "backend"

    database = _template_spec(platform, namespace, "statefulsets", "placed-postgres")
    assert database["nodeSelector"] == {"kubernetes.io/hostname": database_node}  # its own, over the default
    assert database["tolerations"] == [SPOT_TOLERATION]  # not set on the database: the default's

    assert _nodes_of(platform, namespace, "database", 1) == [database_node]
    backend_nodes = _nodes_of(platform, namespace, "backend", 2)
    assert len(set(backend_nodes)) == 2, backend_nodes


def test_a_placement_no_node_satisfies_is_the_stacks_blocker(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    """What a user sees when the node group a placement names is not there: the pod and the scheduler's
    words, on the WebStack itself."""
    spec = {
        "backend": {"image": IMAGE},
        "database": {"placement": {"nodeSelector": {"eks.amazonaws.com/capacityType": "ON_DEMAND"}}},
    }
    apply_webstack(platform, namespace, "unplaced", spec)
    ws = eventually(
        lambda: get_json(platform, "webstack", "unplaced", "-n", namespace),
        until=lambda obj: "cannot be scheduled" in str((obj.get("status") or {}).get("blocker", "")),
        timeout=90,
        what="the WebStack's blocker to name the unschedulable Postgres pod",
    )
    blocker = ws["status"]["blocker"]
    assert "unplaced-postgres-0" in blocker and "node affinity/selector" in blocker, blocker


def test_a_placement_change_keeps_the_migration_job_as_it_was(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    """A Job's pod template is immutable: the operator neither patches the Job (the apiserver would refuse)
    nor replaces it (that would re-run, or interrupt, the migration); the backend takes the new placement."""
    apply_webstack(platform, namespace, "moved", {"backend": {"image": IMAGE}})
    [job] = eventually(
        lambda: get_json(platform, "jobs", "-n", namespace)["items"],
        until=lambda items: len(items) == 1,
        timeout=60,
        what=f"the migration Job in {namespace}",
    )
    placement = {"nodeSelector": {"type": "kwok"}, "tolerations": [SPOT_TOLERATION]}
    apply_webstack(platform, namespace, "moved", {"backend": {"image": IMAGE, "placement": placement}})
    _ = eventually(
        lambda: _template_spec(platform, namespace, "deployments", "moved-backend"),
        until=lambda pod: pod.get("nodeSelector") == {"type": "kwok"},
        timeout=60,
        what="the backend Deployment with the new placement",
    )
    ws = eventually(
        lambda: get_json(platform, "webstack", "moved", "-n", namespace),
        until=lambda obj: (
            (obj.get("status") or {}).get("observedGeneration") == obj["metadata"]["generation"]
        ),
        timeout=60,
        what="the WebStack's status to observe the placement change",
    )
    reconciled = {c["type"]: c for c in ws["status"].get("conditions", [])}.get("Reconciled", {})
    assert reconciled.get("status") == "True", reconciled
    [after] = get_json(platform, "jobs", "-n", namespace)["items"]
    assert after["metadata"]["uid"] == job["metadata"]["uid"]
    assert "nodeSelector" not in after["spec"]["template"]["spec"]

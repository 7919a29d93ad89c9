"""deploy/overlays/namespaced agrees with the base and with itself: the per-namespace Role is the base's
ClusterRole minus what only a cluster-wide operator needs, Velero's Schedules are granted in Velero's
namespace, the cluster-wide grants are removed, and the served namespaces have a Role each and a
`--namespace` each. Static and fast; tests/integration/operator/test_namespaced_install.py builds it with
kubectl and runs the operator on it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from webstack_operator.cli.main import _parser
from webstack_operator.config.operator_settings import OperatorSettings
from webstack_operator.config.run_options import load_config

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "deploy" / "operator"
OVERLAY = ROOT / "deploy" / "overlays" / "namespaced"
# Granted by the base for a cluster-wide operator only: kopf follows CRDs when it serves every namespace,
# Velero's Schedules (and the Backups made from them) are granted in Velero's namespace instead, and the
# cluster-scoped kinds a spec names are not looked for by a namespaced operator (prerequisites.py: unknown,
# never reported missing).
VELERO = {("velero.io", "schedules"), ("velero.io", "backups")}  # granted in Velero's namespace
CLUSTER_WIDE_ONLY = {
    ("", "namespaces"),  # a restore drill's scratch namespace: drills need the cluster-wide install
    ("apiextensions.k8s.io", "customresourcedefinitions"),
    *VELERO,
    ("scheduling.k8s.io", "priorityclasses"),
    ("storage.k8s.io", "storageclasses"),
    ("networking.k8s.io", "ingressclasses"),
    ("external-secrets.io", "clustersecretstores"),
}


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomization(path: Path) -> dict[str, Any]:
    return load(path / "kustomization.yaml")[0]


def grants(rules: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    found: dict[tuple[str, str], set[str]] = {}
    for rule in rules:
        assert "resourceNames" not in rule and "nonResourceURLs" not in rule, rule
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                found.setdefault((group, resource), set()).update(rule["verbs"])
    return found


def base_grants() -> dict[tuple[str, str], set[str]]:
    return grants(load(BASE / "clusterrole.yaml")[0]["rules"])


def namespace_args() -> list[str]:
    """The `--namespace` values the overlay's Deployment patch adds."""
    [patch] = [
        p for p in kustomization(OVERLAY)["patches"] if p.get("target", {}).get("kind") == "Deployment"
    ]
    values = [op["value"] for op in yaml.safe_load(patch["patch"])]
    args = _parser().parse_args(["run", *values])
    return list(args.namespace)


def test_the_cluster_wide_grants_are_removed() -> None:
    deleted = set()
    for patch in kustomization(OVERLAY)["patches"]:
        doc = yaml.safe_load(patch["patch"])
        if isinstance(doc, dict) and doc.get("$patch") == "delete":
            deleted.add((doc["kind"], doc["metadata"]["name"]))
    base = {
        (d["kind"], d["metadata"]["name"])
        for f in ("clusterrole", "clusterrolebinding")
        for d in load(BASE / f"{f}.yaml")
    }
    assert deleted == base


def test_the_namespace_role_is_the_base_minus_what_needs_cluster_wide_rights() -> None:
    role = load(OVERLAY / "stack-namespace" / "role.yaml")[0]
    assert role["kind"] == "Role" and "namespace" not in role["metadata"]  # set by namespaces/<name>/
    expected = {k: v for k, v in base_grants().items() if k not in CLUSTER_WIDE_ONLY}
    assert grants(role["rules"]) == expected


def test_velero_schedules_are_granted_in_veleros_namespace() -> None:
    folder = OVERLAY / "velero"
    assert kustomization(folder)["namespace"] == OperatorSettings().velero_namespace
    role = load(folder / "role.yaml")[0]
    assert grants(role["rules"]) == {kind: base_grants()[kind] for kind in VELERO}
    binding = load(folder / "rolebinding.yaml")[0]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }


def test_each_binding_names_the_operators_service_account() -> None:
    account = load(BASE / "serviceaccount.yaml")[0]["metadata"]
    for path in (OVERLAY / "stack-namespace" / "rolebinding.yaml", OVERLAY / "velero" / "rolebinding.yaml"):
        binding = load(path)[0]
        assert binding["subjects"] == [
            {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
        ]
    role = load(OVERLAY / "stack-namespace" / "role.yaml")[0]
    assert (
        load(OVERLAY / "stack-namespace" / "rolebinding.yaml")[0]["roleRef"]["name"]
        == role["metadata"]["name"]
    )


def test_every_served_namespace_has_a_role_and_a_namespace_flag() -> None:
    resources = kustomization(OVERLAY)["resources"]
    folders = [r.removeprefix("namespaces/") for r in resources if r.startswith("namespaces/")]
    assert folders, "an example namespace at least"
    assert sorted(p.name for p in (OVERLAY / "namespaces").iterdir()) == sorted(folders)
    for name in folders:
        ns = kustomization(OVERLAY / "namespaces" / name)
        assert ns["namespace"] == name and ns["resources"] == ["../../stack-namespace"]
    assert namespace_args() == folders
    config = load_config({}, namespaces=namespace_args(), settings=OperatorSettings())
    assert config.namespaces == tuple(folders)

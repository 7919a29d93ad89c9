"""The install manifests agree with the code: the Deployment's flags are the CLI's, its ports and probes line
up with the Service, ServiceMonitor and NetworkPolicy, the pod is hardened, two replicas elect a leader with
exactly the Lease grants they need, and the ClusterRole covers exactly the kinds the operator watches. Static
and fast; tests/integration/operator/test_install.py applies them for real."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from webstack_operator.builders.operator_alerts import OPERATOR_JOB, operator_prometheus_rule
from webstack_operator.cli.main import OPERATOR_ALERTS_HEADER, _parser
from webstack_operator.config.run_options import OperatorConfig, load_config
from webstack_operator.kube.yamlio import dump_yaml
from webstack_operator.objects.kinds import CHILD_KINDS

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "deploy" / "operator"
MONITORING = ROOT / "deploy" / "components" / "operator-monitoring"
OVERLAYS = ROOT / "deploy" / "overlays"
# API groups every cluster serves; anything else is a third-party CRD the base must not need.
BUILT_IN_GROUPS = {
    "",
    "apps",
    "policy",
    "rbac.authorization.k8s.io",
    "networking.k8s.io",
    "scheduling.k8s.io",
    "apiextensions.k8s.io",
    "flowcontrol.apiserver.k8s.io",
}
ARGOCD = ROOT / "deploy" / "argocd"
CHILD_VERBS = {"list", "watch", "get", "create", "patch", "delete"}
# What kopf and the reconciler need beyond the children (see clusterrole.yaml).
FRAMEWORK_RULES = {
    ("webstack.dev", "webstacks"): {"list", "watch", "patch"},
    ("webstack.dev", "webstacks/status"): {"patch"},
    ("apiextensions.k8s.io", "customresourcedefinitions"): {"list", "watch"},
    ("", "events"): {"create", "list", "watch"},  # list, watch: a StatefulSet's FailedCreate (status)
    # The database volume, read before generating credentials; watched for status (a claim stuck Pending).
    ("", "persistentvolumeclaims"): {"get", "list", "watch"},
    ("", "pods"): {"list", "watch"},  # status: unschedulable pods, containers stuck waiting
    # Restore drills: the scratch namespace, read, made and deleted (reconcile/drill_action.py).
    ("", "namespaces"): {"get", "create", "patch", "delete"},
    # What a spec names and the cluster must have (prerequisites.py): watched, names only.
    ("scheduling.k8s.io", "priorityclasses"): {"list", "watch"},
    ("storage.k8s.io", "storageclasses"): {"list", "watch"},
    ("networking.k8s.io", "ingressclasses"): {"list", "watch"},
    ("external-secrets.io", "secretstores"): {"list", "watch"},
    ("external-secrets.io", "clustersecretstores"): {"list", "watch"},
}


def load(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def one(path: Path, kind: str) -> dict[str, Any]:
    found = [d for d in load(path) if d["kind"] == kind]
    assert len(found) == 1, f"{path}: expected one {kind}"
    return found[0]


def deployment() -> dict[str, Any]:
    return one(BASE / "deployment.yaml", "Deployment")


def container() -> dict[str, Any]:
    containers = deployment()["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def run_args() -> Any:
    return _parser().parse_args(["run", *container()["args"]])


def plural(kind: str) -> str:
    return (
        "networkpolicies"
        if kind == "NetworkPolicy"
        else kind.lower() + ("es" if kind.endswith("ss") else "s")
    )


def granted() -> dict[tuple[str, str], set[str]]:
    rules: dict[tuple[str, str], set[str]] = {}
    for rule in one(BASE / "clusterrole.yaml", "ClusterRole")["rules"]:
        for group in rule["apiGroups"]:
            for resource in rule["resources"]:
                rules.setdefault((group, resource), set()).update(rule["verbs"])
    return rules


def test_the_deployment_passes_flags_the_cli_accepts() -> None:
    args = run_args()
    assert args.command == "run" and args.namespace == []  # cluster-wide, as the ClusterRole allows


def test_probes_and_ports_line_up_with_the_flags_and_the_service() -> None:
    args, c = run_args(), container()
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"healthz": args.liveness_port, "metrics": args.metrics_port}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "healthz"}, probe
    service = one(BASE / "service.yaml", "Service")
    assert service["spec"]["ports"][0]["targetPort"] == "metrics"
    assert (
        service["spec"]["selector"].items() <= deployment()["spec"]["template"]["metadata"]["labels"].items()
    )
    monitor = one(MONITORING / "servicemonitor.yaml", "ServiceMonitor")
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert [e["port"] for e in monitor["spec"]["endpoints"]] == [service["spec"]["ports"][0]["name"]]
    policy = one(BASE / "networkpolicy.yaml", "NetworkPolicy")
    assert [p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]] == ["metrics"]


def test_the_pod_is_hardened() -> None:
    pod = deployment()["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    sc = container()["securityContext"]
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["capabilities"] == {"drop": ["ALL"]}
    resources = container()["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
    classes = {p["metadata"]["name"] for p in load(BASE / "priorityclasses.yaml")}
    assert pod["priorityClassName"] in classes
    assert "webstack-high" in classes  # the class the samples' stacks name


def test_two_replicas_rolled_one_at_a_time() -> None:
    """One leader and one standby; a rollout starts a new pod before it stops an old one, an eviction takes
    one pod at a time, and the scheduler prefers to keep the two on different nodes."""
    spec = deployment()["spec"]
    assert spec["replicas"] == 2
    assert spec["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
    }
    for overlay in ("dev", "prod"):
        text = (ROOT / "deploy" / "overlays" / overlay / "kustomization.yaml").read_text()
        assert "replicas:" not in text.replace("# replicas", "")
    labels = spec["template"]["metadata"]["labels"]
    budget = one(BASE / "poddisruptionbudget.yaml", "PodDisruptionBudget")
    assert budget["metadata"]["namespace"] == deployment()["metadata"]["namespace"]
    assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": spec["selector"]["matchLabels"]}}
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    anti = spec["template"]["spec"]["affinity"]["podAntiAffinity"]
    assert "requiredDuringSchedulingIgnoredDuringExecution" not in anti  # a one-node cluster runs both
    [preferred] = anti["preferredDuringSchedulingIgnoredDuringExecution"]
    term = preferred["podAffinityTerm"]
    assert term["topologyKey"] == "kubernetes.io/hostname"
    assert term["labelSelector"]["matchLabels"].items() <= labels.items()


def test_the_lease_namespace_is_the_pods_own() -> None:
    """POD_NAMESPACE from the downward API: the namespace where the Role lets the operator hold its Lease."""
    env = {e["name"]: e for e in container()["env"]}
    assert env["POD_NAMESPACE"] == {
        "name": "POD_NAMESPACE",
        "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}},
    }
    namespace = deployment()["metadata"]["namespace"]
    config = load_config({"POD_NAMESPACE": namespace, "HOSTNAME": "webstack-operator-abc"})
    assert config.leader_election
    assert config.lease_namespace == one(BASE / "role.yaml", "Role")["metadata"]["namespace"] == namespace


def test_the_lease_role_grants_exactly_the_election() -> None:
    """get and update on the one Lease by name; create cannot be restricted by name (the apiserver knows no
    name when it authorizes a create), so it is a rule of its own, in this namespace only."""
    role = one(BASE / "role.yaml", "Role")
    lease = OperatorConfig().lease_name
    assert role["rules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "resourceNames": [lease],
            "verbs": ["get", "update"],
        },
        {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["create"]},
    ]
    binding = one(BASE / "rolebinding.yaml", "RoleBinding")
    account = one(BASE / "serviceaccount.yaml", "ServiceAccount")["metadata"]
    assert binding["metadata"]["namespace"] == role["metadata"]["namespace"] == account["namespace"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]


def test_the_lease_renewals_have_their_own_priority_level() -> None:
    """API Priority and Fairness: the operator's Lease requests match a FlowSchema of their own, before the
    built-in `service-accounts` one (9000) that takes the rest of its traffic."""
    [level] = [d for d in load(BASE / "flowcontrol.yaml") if d["kind"] == "PriorityLevelConfiguration"]
    schema = one(BASE / "flowcontrol.yaml", "FlowSchema")
    assert schema["spec"]["priorityLevelConfiguration"]["name"] == level["metadata"]["name"]
    assert level["spec"]["type"] == "Limited" and level["spec"]["limited"]["lendablePercent"] == 0
    assert schema["spec"]["matchingPrecedence"] < 9000
    account = one(BASE / "serviceaccount.yaml", "ServiceAccount")["metadata"]
    role = one(BASE / "role.yaml", "Role")
    [rule] = schema["spec"]["rules"]
    assert rule["subjects"] == [
        {
            "kind": "ServiceAccount",
            "serviceAccount": {"name": account["name"], "namespace": account["namespace"]},
        }
    ]
    assert rule["resourceRules"] == [
        {
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "namespaces": [role["metadata"]["namespace"]],
            "verbs": sorted({verb for r in role["rules"] for verb in r["verbs"]}),
        }
    ]


def test_every_manifest_is_in_the_kustomization() -> None:
    kustomization = load(BASE / "kustomization.yaml")[0]
    listed = {r for r in kustomization["resources"] if r.endswith(".yaml")}
    assert listed == {p.name for p in BASE.glob("*.yaml")} - {"kustomization.yaml"}


def test_the_base_needs_no_third_party_crd() -> None:
    """`kubectl apply -k deploy/operator` works on a cluster without the Prometheus Operator."""
    kustomization = load(BASE / "kustomization.yaml")[0]
    groups = {
        doc["apiVersion"].rpartition("/")[0]: doc["kind"]
        for resource in kustomization["resources"]
        if resource.endswith(".yaml")
        for doc in load(BASE / resource)
    }
    assert set(groups) <= BUILT_IN_GROUPS, groups


def test_the_monitoring_component_holds_the_operators_monitoring() -> None:
    component = load(MONITORING / "kustomization.yaml")[0]
    assert component["kind"] == "Component"
    assert set(component["resources"]) == {p.name for p in MONITORING.glob("*.yaml")} - {"kustomization.yaml"}
    kinds = {d["kind"] for r in component["resources"] for d in load(MONITORING / r)}
    assert kinds == {"ServiceMonitor", "PrometheusRule"}
    for overlay in ("dev", "prod", "namespaced"):
        kustomization = load(OVERLAYS / overlay / "kustomization.yaml")[0]
        assert "../../components/operator-monitoring" in kustomization.get("components", []), overlay


def test_the_operator_alerts_are_the_builders_output() -> None:
    committed = (MONITORING / "prometheusrule.yaml").read_text()
    assert committed == OPERATOR_ALERTS_HEADER + dump_yaml(operator_prometheus_rule()), (
        "deploy/components/operator-monitoring/prometheusrule.yaml is stale: run `make crd`"
    )
    service = one(BASE / "service.yaml", "Service")
    assert service["metadata"]["name"] == OPERATOR_JOB  # Prometheus's job label: what the alerts select


def test_overlays_name_the_base_image() -> None:
    assert container()["image"] == "webstack-operator"
    for overlay in ("dev", "prod"):
        kustomization = load(ROOT / "deploy" / "overlays" / overlay / "kustomization.yaml")[0]
        assert [i["name"] for i in kustomization["images"]] == ["webstack-operator"]


def test_the_service_account_is_bound_to_the_role() -> None:
    account = one(BASE / "serviceaccount.yaml", "ServiceAccount")["metadata"]
    binding = one(BASE / "clusterrolebinding.yaml", "ClusterRoleBinding")
    assert binding["roleRef"]["name"] == one(BASE / "clusterrole.yaml", "ClusterRole")["metadata"]["name"]
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["name"], "namespace": account["namespace"]}
    ]
    assert deployment()["spec"]["template"]["spec"]["serviceAccountName"] == account["name"]


def test_the_role_has_no_wildcards() -> None:
    for rule in one(BASE / "clusterrole.yaml", "ClusterRole")["rules"]:
        for values in (rule["apiGroups"], rule["resources"], rule["verbs"]):
            assert "*" not in values, rule
        assert "nonResourceURLs" not in rule and "resourceNames" not in rule


def test_the_role_covers_exactly_the_kinds_the_operator_watches() -> None:
    """A child kind added to the reconciler without its rule (or a rule left behind) fails here."""
    expected = dict(FRAMEWORK_RULES)
    for child in CHILD_KINDS:
        group, kind = child.group, child.kind
        # Secrets are created once, patched only for owner references, adoption or a regenerate action,
        # never deleted by the operator.
        if not child.rendered:  # made by another controller (Velero's Backups): read, never written
            expected[(group, plural(kind))] = {"get", "list", "watch"}
            continue
        expected[(group, plural(kind))] = CHILD_VERBS - {"delete"} if child.create_only else CHILD_VERBS
    assert granted() == expected


def argocd_applications() -> list[dict[str, Any]]:
    return [d for path in sorted(ARGOCD.glob("*.yaml")) for d in load(path) if d.get("kind") == "Application"]


def test_argocd_applications_sync_automatically_with_server_side_apply() -> None:
    apps = argocd_applications()
    assert {a["metadata"]["name"] for a in apps} == {"webstack-operator", "webstack-shop"}
    projects = {
        d["metadata"]["name"]: d
        for p in ARGOCD.glob("*.yaml")
        for d in load(p)
        if d.get("kind") == "AppProject"
    }
    for app in apps:
        spec = app["spec"]
        assert spec["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert "ServerSideApply=true" in spec["syncPolicy"]["syncOptions"]
        path = ROOT / spec["source"]["path"]
        assert (path / "kustomization.yaml").is_file(), path
        project = projects[spec["project"]]
        assert spec["destination"] in project["spec"]["destinations"]
        assert spec["source"]["repoURL"] in project["spec"]["sourceRepos"]


def test_the_stack_application_leaves_argo_rollouts_fields_alone() -> None:
    stack = next(a for a in argocd_applications() if a["metadata"]["name"] == "webstack-shop")
    ignored = {(d["group"], d["kind"]) for d in stack["spec"]["ignoreDifferences"]}
    assert {("", "Service"), ("networking.k8s.io", "Ingress"), ("argoproj.io", "Rollout")} <= ignored
    assert "RespectIgnoreDifferences=true" in stack["spec"]["syncPolicy"]["syncOptions"]


def test_the_operators_argocd_project_allows_every_kind_the_base_installs() -> None:
    """Argo CD refuses to sync a kind its AppProject does not whitelist: the operator would never update."""
    app = next(a for a in argocd_applications() if a["metadata"]["name"] == "webstack-operator")
    project = next(
        d
        for p in ARGOCD.glob("*.yaml")
        for d in load(p)
        if d.get("kind") == "AppProject" and d["metadata"]["name"] == app["spec"]["project"]
    )
    allowed = {
        (entry["group"], entry["kind"])
        for key in ("clusterResourceWhitelist", "namespaceResourceWhitelist")
        for entry in project["spec"].get(key, [])
    }
    installed = set()
    overlay = OVERLAYS / "prod"  # what the Application syncs: the base and the overlay's components
    kustomizations = [
        (BASE, "resources"),
        *[
            ((overlay / c).resolve(), "resources")
            for c in load(overlay / "kustomization.yaml")[0].get("components", [])
        ],
    ]
    for folder, key in kustomizations:
        for resource in load(folder / "kustomization.yaml")[0][key]:
            path = (folder / resource).resolve()
            for file in sorted(path.glob("*.yaml")) if path.is_dir() else [path]:
                for doc in load(file):
                    installed.add((doc["apiVersion"].rpartition("/")[0], doc["kind"]))
    assert installed - allowed == set(), f"not whitelisted in {project['metadata']['name']}"

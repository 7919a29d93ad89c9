"""The hardening policy every pod of a stack must pass, and other structural invariants, as checks that
return readable violations (used by the property tests and the per-builder tests)."""

from __future__ import annotations

import re
from typing import Any

from webstack_operator.objects import labels

DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Rollout"}
POD_KINDS = WORKLOAD_KINDS | {"Job"}  # a Job's pods are held to the same policy
STANDARD_LABELS = (labels.NAME, labels.INSTANCE, labels.COMPONENT, labels.PART_OF, labels.MANAGED_BY)
# A container securityContext that passes this policy and PodSecurity "restricted": for the tests' own pods
# (probe agents, API clients) on the real node. Copy it before changing it.
RESTRICTED_CONTAINER: dict[str, Any] = {
    "runAsNonRoot": True,
    "runAsUser": 65532,
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
    "readOnlyRootFilesystem": True,
}


def pod_template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of a workload or a Job, or None."""
    if obj["kind"] in POD_KINDS:
        template: dict[str, Any] = obj["spec"]["template"]
        return template
    return None


def hardening_violations(obj: dict[str, Any]) -> list[str]:
    """What in a workload's pod template breaks the hardening policy."""
    template = pod_template(obj)
    if template is None:
        return []
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    spec = template["spec"]
    problems: list[str] = []
    pod_sc = spec.get("securityContext", {})
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken must be false")
    if pod_sc.get("runAsNonRoot") is not True:
        problems.append(f"{where}: pod runAsNonRoot")
    for key in ("runAsUser", "runAsGroup", "fsGroup"):
        value = pod_sc.get(key)
        if not isinstance(value, int) or value <= 0:
            problems.append(f"{where}: pod {key} must be a numeric non-root id, got {value!r}")
    if pod_sc.get("seccompProfile", {}).get("type") != "RuntimeDefault":
        problems.append(f"{where}: pod seccompProfile RuntimeDefault")
    if spec.get("hostNetwork") or spec.get("hostPID") or spec.get("hostIPC"):
        problems.append(f"{where}: host namespaces")
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    claims = {c["metadata"]["name"] for c in obj["spec"].get("volumeClaimTemplates", [])}
    for container in spec.get("initContainers", []) + spec["containers"]:
        cname = f"{where}/{container['name']}"
        sc = container.get("securityContext", {})
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{cname}: allowPrivilegeEscalation must be false")
        if sc.get("privileged"):
            problems.append(f"{cname}: privileged")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{cname}: readOnlyRootFilesystem must be true")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc.get("capabilities", {}).get("add"):
            problems.append(f"{cname}: capabilities must drop ALL and add none")
        if sc.get("seccompProfile", {}).get("type", "RuntimeDefault") != "RuntimeDefault":
            problems.append(f"{cname}: seccompProfile")
        if sc.get("runAsUser", 1) == 0:
            problems.append(f"{cname}: runs as root")
        res = container.get("resources", {})
        for section, key in (("requests", "cpu"), ("requests", "memory"), ("limits", "memory")):
            if key not in res.get(section, {}):
                problems.append(f"{cname}: resources.{section}.{key} must be set")
        for mount in container.get("volumeMounts", []):
            volume = volumes.get(mount["name"])
            if volume is None and mount["name"] not in claims:
                problems.append(f"{cname}: mount {mount['name']} has no volume")
            if volume is not None and "hostPath" in volume:
                problems.append(f"{cname}: hostPath volume {mount['name']}")
        if "image" not in container or container["image"].endswith(":latest"):
            problems.append(f"{cname}: image must be pinned")
    return problems


def label_violations(obj: dict[str, Any]) -> list[str]:
    """Missing or malformed standard labels."""
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    meta_labels = obj["metadata"].get("labels", {})
    problems = [f"{where}: missing label {key}" for key in STANDARD_LABELS if key not in meta_labels]
    problems += [
        f"{where}: bad label value {k}={v!r}" for k, v in meta_labels.items() if not LABEL_VALUE.match(v)
    ]
    template = pod_template(obj)
    if template is not None:
        pod_labels = template["metadata"].get("labels", {})
        problems += [f"{where}: pod template lacks {key}" for key in STANDARD_LABELS if key not in pod_labels]
    return problems


def name_violations(obj: dict[str, Any]) -> list[str]:
    """Names beyond what Kubernetes accepts for that kind (and what derived names need)."""
    name = obj["metadata"]["name"]
    where = f"{obj['kind']}/{name}"
    if obj["kind"] == "Service" and (len(name) > 63 or not DNS_LABEL.match(name)):
        return [f"{where}: a Service name must be a DNS-1035 label"]
    if obj["kind"] == "StatefulSet" and len(name) > 52:
        return [f"{where}: StatefulSet name longer than 52 (controller-revision-hash label)"]
    if obj["kind"] in POD_KINDS and len(name) > 63:
        return [f"{where}: workload or Job name longer than 63 (a label value on its pods)"]
    if obj["kind"] == "Schedule" and len(name) > 63:
        return [f"{where}: Velero schedule-name label longer than 63"]
    if len(name) > 253 or not DNS_SUBDOMAIN.match(name):
        return [f"{where}: not a DNS subdomain"]
    return []


def selector_violations(obj: dict[str, Any], all_objects: list[dict[str, Any]]) -> list[str]:
    """A selector that does not match its own pods (or, for a Service or PDB, any pods of the stack)."""
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    templates = [t for t in (pod_template(o) for o in all_objects) if t is not None]

    def matches(selector: dict[str, str], pod_labels: dict[str, str]) -> bool:
        return all(pod_labels.get(k) == v for k, v in selector.items())

    template = pod_template(obj)
    if template is not None and obj["kind"] in WORKLOAD_KINDS:  # a Job's selector is the apiserver's
        selector = obj["spec"]["selector"]["matchLabels"]
        if not matches(selector, template["metadata"]["labels"]):
            return [f"{where}: selector {selector} does not match its pod labels"]
        others = [t for t in templates if t is not template and matches(selector, t["metadata"]["labels"])]
        if others:
            return [f"{where}: selector also matches another workload's pods"]
    if obj["kind"] in ("Service", "PodDisruptionBudget"):
        selector = (
            obj["spec"]["selector"] if obj["kind"] == "Service" else obj["spec"]["selector"]["matchLabels"]
        )
        if not any(matches(selector, t["metadata"]["labels"]) for t in templates):
            return [f"{where}: selector {selector} matches no pod of the stack"]
    return []

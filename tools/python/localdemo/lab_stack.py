"""The demo sample made to run on the lab's real node, as a user on kind or EKS would adapt it: the lab's
images, its Postgres version and storage class, and a placement on the real node. What differs from
deploy/samples/webstack-demo.yaml, and why:
- images: the lab images (no registry is reachable): the spec's `backend.image` and `frontend.image`; the
  Postgres and Redis images come from the operator's settings (deploy/overlays/lab);
- `database.version: "17"` (the lab's Postgres stand-in: Debian has no Postgres 16) and
  `database.storage.storageClassName: local-path` (the real node's provisioner);
- `spec.placement`: the real node's nodeSelector and toleration (kubelocal.target.REAL_NODE_PLACEMENT),
  so every pod lands there through the operator's own rendering, as a user's placement would.
Beside the stack, its namespace gets one NetworkPolicy of the lab's (`stack_node_dns_policy`): the real
node enforces NetworkPolicies, and its cluster DNS is not the pods the stack's DNS rule selects.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubelocal.realnode.layout import NODE_IP
from kubelocal.target import REAL_NODE_PLACEMENT
from labimages import reference_of
from webstack_operator.api.files import load_documents
from webstack_operator.builders.credentials_rotation import COMPONENT as ROTATION
from webstack_operator.builders.migrate import COMPONENT as MIGRATE
from webstack_operator.objects import labels

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "deploy" / "samples" / "webstack-demo.yaml"
LAB_OVERLAY = ROOT / "deploy" / "overlays" / "lab"
POSTGRES_VERSION = "17"
STORAGE_CLASS = "local-path"
# The stack's namespace admits only pods PodSecurity `restricted` allows: what a hardened cluster enforces.
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
}

JSON = dict[str, Any]


def lab_sample(namespace: str, reference: Callable[[str], str] = reference_of) -> JSON:
    """The demo sample with the lab's images, Postgres version, storage class and placement on the real
    node. `reference` names a repository's lab image (a unit test passes its own)."""
    [doc] = load_documents(str(SAMPLE))  # as `webstack-operator render -f` reads it
    doc["metadata"]["namespace"] = namespace
    spec = doc["spec"]
    spec["backend"]["image"] = reference("webstack.lab/users-api")
    spec["frontend"]["image"] = reference("webstack.lab/nginx-unprivileged")
    spec["database"]["version"] = POSTGRES_VERSION
    spec["database"]["storage"]["storageClassName"] = STORAGE_CLASS
    spec["placement"] = copy.deepcopy(REAL_NODE_PLACEMENT)
    return dict(doc)


def namespace_object(name: str) -> JSON:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}}


# The pods the connectivity table gives DNS (docs/network-connectivity.yaml): Postgres and Redis have none.
DNS_CLIENTS = (labels.FRONTEND, labels.BACKEND, MIGRATE, ROTATION)


def node_dns_policy(namespace: str, pod_selector: JSON) -> JSON:
    """UDP and TCP 53 to the real node's address, for the pods `pod_selector` picks. The lab's CoreDNS is a
    host process there (kubelocal.realnode), not pods labelled `k8s-app: kube-dns`, so a DNS rule that
    selects those pods (the stacks', the operator's) selects nothing here, and kube-router refuses every
    lookup. Allows add up: this is what a cluster whose DNS answers off the pod network (NodeLocal
    DNSCache) adds, docs/architecture.md, "Network connectivity". Elsewhere (kind, EKS) it allows an
    address nothing answers on."""
    dns = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "lab-node-dns", "namespace": namespace},
        "spec": {
            "podSelector": pod_selector,
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": f"{NODE_IP}/32"}}], "ports": dns}],
        },
    }


def stack_node_dns_policy(namespace: str) -> JSON:
    """The lab's DNS allowance for a stack's pods that resolve names (DNS_CLIENTS)."""
    selector = {
        "matchLabels": {labels.PART_OF: labels.PART_OF_VALUE},
        "matchExpressions": [{"key": labels.COMPONENT, "operator": "In", "values": list(DNS_CLIENTS)}],
    }
    return node_dns_policy(namespace, selector)


def lab_namespace(name: str) -> JSON:
    """A stack's namespace on the real node: restricted, with the lab's DNS allowance in it."""
    return {
        "apiVersion": "v1",
        "kind": "List",
        "items": [namespace_object(name), stack_node_dns_policy(name)],
    }

"""The demo sample made to run on the lab's real node, as a user on kind or EKS would adapt it: the lab's
images, its Postgres version and storage class, and a placement on the real node. What differs from
deploy/samples/webstack-demo.yaml, and why:
- images: the lab images (no registry is reachable): the spec's `backend.image` and `frontend.image`; the
  Postgres and Redis images come from the operator's settings (deploy/overlays/lab);
- `database.version: "17"` (the lab's Postgres stand-in: Debian has no Postgres 16) and
  `database.storage.storageClassName: local-path` (the real node's provisioner);
- `spec.placement`: the real node's nodeSelector and toleration (kubelocal.target.REAL_NODE_PLACEMENT),
  so every pod lands there through the operator's own rendering, as a user's placement would.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubelocal.target import REAL_NODE_PLACEMENT
from labimages import reference_of
from webstack_operator.api.files import load_documents

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

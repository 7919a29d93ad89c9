"""The demo sample as the operator renders it, made to run on the real node: lab images, placement, a
namespace under PodSecurity `restricted`, and the generated Secrets as the operator's reconcile makes them.

What differs from `webstack-operator render -f deploy/samples/webstack-demo.yaml`, and why:
- images: the lab images (no registry is reachable), chosen through the operator's own settings
  (WEBSTACK_POSTGRES_REPOSITORY, WEBSTACK_REDIS_IMAGE) and the spec's `backend.image` and `frontend.image`;
- `database.version: "17"` (the lab's Postgres stand-in: Debian has no Postgres 16) and
  `database.storage.storageClassName: local-path` (the real node's provisioner);
- `spec.placement`: the real node's nodeSelector and toleration (kubelocal.target.REAL_NODE_PLACEMENT),
  so every pod lands there through the operator's own rendering, as a user's placement would;
- the generated passwords are random, as the reconcile makes them (`secrets.token_urlsafe(24)`), not
  render's fixed placeholders; no owner reference (render sets none: no WebStack object exists);
- capabilities: what the cluster serves, discovered as the operator does (`capabilities_from`).
"""

from __future__ import annotations

import base64
import copy
import json
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

from kubelocal import leaks
from kubelocal.target import REAL_NODE_PLACEMENT, KubeTarget
from kubelocal.wait import eventually
from labimages import reference_of
from webstack_operator.api.files import load_documents
from webstack_operator.api.spec import parse_spec
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.config import run_options
from webstack_operator.objects import labels
from webstack_operator.objects.kinds import capabilities_from

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "deploy" / "samples" / "webstack-demo.yaml"
POSTGRES_VERSION = "17"
STORAGE_CLASS = "local-path"
RESTRICTED = {
    "pod-security.kubernetes.io/enforce": "restricted",
    "pod-security.kubernetes.io/enforce-version": "latest",
    "pod-security.kubernetes.io/warn": "restricted",
}

JSON = dict[str, Any]


def lab_settings_env(reference: Callable[[str], str] = reference_of) -> dict[str, str]:
    """The operator's settings variables that point its defaults at the lab images (deploy/overlays/lab sets
    the same in the operator's Deployment). `reference` names a repository's lab image."""
    postgres = reference("webstack.lab/postgres")
    repository, tag = postgres.rsplit(":", 1)
    # The operator names `<repository>:<major>-alpine`; the lab's stand-in carries that tag.
    assert tag == f"{POSTGRES_VERSION}-alpine", f"the lab postgres image is {postgres}"
    return {
        "WEBSTACK_POSTGRES_REPOSITORY": repository,
        "WEBSTACK_REDIS_IMAGE": reference("webstack.lab/redis"),
    }


def lab_sample(namespace: str, reference: Callable[[str], str] = reference_of) -> JSON:
    """The demo sample with the lab's images, Postgres version, storage class and placement on the real
    node (module docstring). `reference` names a repository's lab image (a unit test passes its own)."""
    [doc] = load_documents(str(SAMPLE))  # as `webstack-operator render -f` reads it
    doc["metadata"]["namespace"] = namespace
    spec = doc["spec"]
    spec["backend"]["image"] = reference("webstack.lab/users-api")
    spec["frontend"]["image"] = reference("webstack.lab/nginx-unprivileged")
    spec["database"]["version"] = POSTGRES_VERSION
    spec["database"]["storage"]["storageClassName"] = STORAGE_CLASS
    spec["placement"] = copy.deepcopy(REAL_NODE_PLACEMENT)
    return doc


def served_kinds(cluster: KubeTarget) -> set[tuple[str, str]]:
    """(apiVersion, kind) of every resource the cluster serves."""
    out = cluster.kubectl("api-resources", "--no-headers").stdout
    # NAME [SHORTNAMES] APIVERSION NAMESPACED KIND: the short names column may be empty.
    return {(cols[-3], cols[-1]) for cols in (line.split() for line in out.splitlines()) if len(cols) >= 4}


def render_for_real_node(doc: JSON, served: set[tuple[str, str]]) -> list[JSON]:
    """The operator's render path (settings from its variables, parse_spec, desired_objects), with the
    passwords generated as its reconcile generates them; the placement is the document's own."""
    settings = run_options.load_settings(lab_settings_env())
    ctx = StackContext(
        spec=parse_spec(doc),
        name=doc["metadata"]["name"],
        namespace=doc["metadata"]["namespace"],
        settings=replace(settings, capabilities=capabilities_from(served)),
        generated_password=secrets.token_urlsafe(24),
        generated_cache_password=secrets.token_urlsafe(24),
    )
    leaks.note_secret(ctx.generated_password)
    leaks.note_secret(ctx.generated_cache_password)
    return desired_objects(ctx)


@dataclass(frozen=True)
class RealStack:
    """One demo stack applied into its own namespace."""

    cluster: KubeTarget
    namespace: str
    name: str
    objects: list[JSON]
    apply_warnings: str

    def child(self, suffix: str) -> str:
        return f"{self.name}-{suffix}"

    def secret_value(self, secret: str, key: str) -> str:
        """A key of a rendered Secret, decoded."""
        for obj in self.objects:
            if obj["kind"] == "Secret" and obj["metadata"]["name"] == secret:
                return base64.b64decode(obj["data"][key]).decode()
        raise KeyError(f"no rendered Secret {secret}")

    def of_kind(self, kind: str) -> list[JSON]:
        return [o for o in self.objects if o["kind"] == kind]

    def kubectl(self, *args: str, input: str | None = None, check: bool = True) -> str:
        return self.cluster.kubectl("-n", self.namespace, *args, input=input, check=check).stdout

    def exec(self, pod: str, container: str, *argv: str, input: str | None = None) -> CompletedProcess[str]:
        """`kubectl exec` in a container; the caller reads returncode, stdout and stderr."""
        stdin = ("-i",) if input is not None else ()
        return self.cluster.kubectl(
            "-n", self.namespace, "exec", *stdin, pod, "-c", container, "--", *argv, input=input, check=False
        )

    def get(self, *what: str) -> JSON:
        result: JSON = json.loads(self.kubectl("get", *what, "-o", "json"))
        return result

    def keep_logs(self) -> None:
        keep_namespace_logs(self.cluster, self.namespace)


def keep_namespace_logs(cluster: KubeTarget, namespace: str) -> None:
    """Every container's log in the namespace (previous runs too) for the run's search for leaked
    passwords, before the namespace goes and the kubelet removes them."""
    pods: list[JSON] = json.loads(cluster.kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)[
        "items"
    ]
    with tempfile.TemporaryDirectory() as scratch:
        for pod in pods:
            spec = pod["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                name = f"{pod['metadata']['name']}-{container['name']}"
                for previous in ("--previous=false", "--previous=true"):
                    out = cluster.kubectl(
                        "-n",
                        namespace,
                        "logs",
                        pod["metadata"]["name"],
                        "-c",
                        container["name"],
                        previous,
                        check=False,
                    ).stdout
                    path = Path(scratch) / f"{name}{previous[-5:]}.log"
                    path.write_text(out)
                    leaks.keep_log(path, f"realnode-{namespace}-{path.stem}")


def deploy(cluster: KubeTarget, namespace: str) -> RealStack:
    """Creates the restricted namespace and applies the stack, keeping kubectl's stderr (where PodSecurity
    names a workload whose pod template it would refuse)."""
    cluster.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace, "labels": RESTRICTED}}
    )
    doc = lab_sample(namespace)
    objects = render_for_real_node(doc, served_kinds(cluster))
    applied = cluster.apply({"apiVersion": "v1", "kind": "List", "items": objects})
    return RealStack(cluster, namespace, doc["metadata"]["name"], objects, applied.stderr)


def pod_summary(pod: JSON) -> JSON:
    """What a wait shows of a pod when it gives up: where it runs and each container's state."""
    status = pod.get("status", {})
    return {
        "name": pod["metadata"]["name"],
        "node": pod["spec"].get("nodeName"),
        "phase": status.get("phase"),
        "conditions": {c["type"]: c["status"] for c in status.get("conditions", [])},
        "containers": {
            c["name"]: {"ready": c.get("ready"), "restarts": c.get("restartCount"), **c.get("state", {})}
            for c in status.get("containerStatuses", [])
        },
    }


def is_ready(pod: JSON) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def ready_pods(stack: RealStack, component: str, count: int, timeout: float = 240) -> list[JSON]:
    """Polls until exactly `count` pods of the component exist, none terminating, all Ready."""

    def pods() -> list[JSON]:
        found: list[JSON] = stack.get(
            "pods", "-l", f"{labels.INSTANCE}={stack.name},{labels.COMPONENT}={component}"
        )["items"]
        return [p for p in found if not p["metadata"].get("deletionTimestamp")]

    return eventually(
        pods,
        until=lambda found: len(found) == count and all(is_ready(p) for p in found),
        timeout=timeout,
        interval=1,
        what=f"{count} Ready {component} pod(s) in {stack.namespace}",
    )

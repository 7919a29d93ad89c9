"""The demo sample as the operator renders it, made to run on the real node (localdemo.lab_stack says what
differs from the sample, and why), in a namespace under PodSecurity `restricted`, with the generated
Secrets as the operator's reconcile makes them. Beyond the lab sample:
- the generated passwords are random, as the reconcile makes them (`secrets.token_urlsafe(24)`), not
  render's fixed placeholders; no owner reference (render sets none: no WebStack object exists);
- capabilities: what the cluster serves, discovered as the operator does (`capabilities_from`).
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from subprocess import CompletedProcess
from typing import Any

from kubelocal import leaks
from kubelocal.pod_logs import keep_namespace_logs
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from labimages import reference_of
from localdemo.lab_stack import POSTGRES_VERSION, lab_namespace, lab_sample
from webstack_operator.api.spec import parse_spec
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.config import run_options
from webstack_operator.objects import labels
from webstack_operator.objects.kinds import capabilities_from

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


def deploy(cluster: KubeTarget, namespace: str) -> RealStack:
    """Creates the restricted namespace and applies the stack, keeping kubectl's stderr (where PodSecurity
    names a workload whose pod template it would refuse)."""
    cluster.apply(lab_namespace(namespace))
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

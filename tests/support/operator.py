"""Helpers for operator tests: CRD install, WebStack status polling, Events."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from kubelocal.cluster import LocalCluster
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localservices import OperatorProcess, operator_command

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR = ROOT / "crds"
SAMPLES = ROOT / "deploy" / "samples"

__all__ = [
    "CRD_DIR",
    "SAMPLES",
    "OperatorProcess",
    "bare_cluster",
    "condition",
    "dry_run_apply",
    "events",
    "get_json",
    "install_webstack_crd",
    "operator_command",
    "scratch_namespace",
    "wait_phase",
    "webstack_doc",
]


def install_webstack_crd(cluster: KubeTarget) -> None:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(CRD_DIR))
    cluster.wait_established(["webstacks.webstack.dev"])


@contextmanager
def scratch_namespace(cluster: KubeTarget, prefix: str) -> Iterator[str]:
    """A namespace of a fresh name for the block, deleted (without waiting) after it."""
    name = f"{prefix}-{uuid.uuid4().hex[:8]}"
    cluster.kubectl("create", "namespace", name)
    try:
        yield name
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


def webstack_doc(namespace: str, spec: dict[str, Any], name: str = "shop") -> dict[str, Any]:
    """A WebStack object as a user writes it."""
    return {
        "apiVersion": "webstack.dev/v1alpha1",
        "kind": "WebStack",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def dry_run_apply(cluster: KubeTarget, obj: dict[str, Any]) -> tuple[int, str]:
    """Server-side apply with server-side dry-run: every admission step runs, nothing is stored. Returns
    kubectl's exit code and what it said on stderr (the apiserver's refusal)."""
    result = cluster.kubectl(
        "apply",
        "--server-side",
        "--dry-run=server",
        "--field-manager=test",
        "-f",
        "-",
        input=json.dumps(obj),
        check=False,
    )
    return result.returncode, result.stderr


def get_json(cluster: KubeTarget, *args: str) -> dict[str, Any]:
    return dict(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout))


def wait_phase(
    cluster: KubeTarget, ns: str, name: str, phase: str = "Ready", timeout: float = 90
) -> dict[str, Any]:
    return eventually(
        lambda: get_json(cluster, "webstack", name, "-n", ns),
        until=lambda ws: (
            (ws.get("status") or {}).get("phase") == phase
            and (ws.get("status") or {}).get("observedGeneration") == ws["metadata"]["generation"]
        ),
        timeout=timeout,
        what=f"WebStack {ns}/{name} phase {phase}",
    )


def condition(ws: dict[str, Any], ctype: str) -> dict[str, Any]:
    for c in (ws.get("status") or {}).get("conditions") or []:
        if c["type"] == ctype:
            return dict(c)
    raise AssertionError(f"no condition {ctype} in {ws.get('status')}")


def events(cluster: KubeTarget, ns: str, name: str) -> list[dict[str, Any]]:
    out = get_json(
        cluster,
        "events",
        "-n",
        ns,
        "--field-selector",
        f"involvedObject.name={name},involvedObject.kind=WebStack",
    )
    return list(out["items"])


def operators_on(kubeconfig: Path) -> list[int]:
    """Pids of `webstack-operator run` processes using this kubeconfig (their KUBECONFIG variable)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"run" not in argv or not any(a.endswith(b"webstack-operator") for a in argv):
                continue
            environ = (entry / "environ").read_bytes().split(b"\0")
        except OSError:
            continue  # gone, or not ours to read
        if f"KUBECONFIG={kubeconfig}".encode() in environ:
            found.append(int(entry.name))
    return found


@contextmanager
def bare_cluster(workdir: Path) -> Iterator[tuple[KubeTarget, LocalCluster, OperatorProcess]]:
    """A private control plane with only the WebStack CRD (no Argo Rollouts, Prometheus Operator or
    Velero), a namespace `team`, and an operator on it: for what the shared cluster cannot show."""
    with LocalCluster(nodes=1) as local:
        cluster = KubeTarget(local.kubeconfig_path, local=local)
        install_webstack_crd(cluster)
        cluster.kubectl("create", "namespace", "team")
        proc = OperatorProcess(local.kubeconfig_path, workdir).start()
        try:
            yield cluster, local, proc
        finally:
            proc.stop()
            cluster.close()

"""charts/webstack-operator rendered by Helm and deploy/ rendered by kustomize, normalised for comparison.

The chart and deploy/ are one install described twice; these helpers let a test say exactly how the two
renders may differ. Both programs come from the binaries cache (`make cluster-binaries`, or
`tools/go/build-cluster-binaries.sh helm`): Helm and kustomize (the version kubectl embeds) from
tools/go/helm. Neither is built here.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from kubelocal import binaries
from kubelocal.binaries import BinariesMissing, helm
from kubelocal.target import KubeTarget

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "webstack-operator"
NAMESPACE = "webstack-system"
RELEASE = "webstack-operator"
# Helm's standard labels: the only labels the chart adds to what deploy/ renders.
HELM_LABELS = frozenset(
    {
        "helm.sh/chart",
        "app.kubernetes.io/managed-by",
        "app.kubernetes.io/instance",
        "app.kubernetes.io/version",
    }
)
Key = tuple[str, str, str]  # kind, namespace ("" when cluster-scoped), name


def require(find: Any, what: str) -> Path:
    """The binary, or a skip naming how to build it; under CI a missing binary is a failure, not a skip."""
    try:
        path: Path = find()
    except BinariesMissing as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{what}: {missing}")
        pytest.skip(f"{what}: {missing}")
    return path


def run(args: Sequence[str | Path]) -> str:
    result = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=120, check=False, cwd=ROOT
    )
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stderr}"
    return result.stdout


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def helm_template(*args: str, tests: bool = False) -> list[dict[str, Any]]:
    """`helm template` of the chart into webstack-system; `--skip-tests` unless the test hooks are wanted."""
    flags = [] if tests else ["--skip-tests"]
    binary = require(helm, "helm")
    return docs(run([binary, "template", RELEASE, CHART, "--namespace", NAMESPACE, *flags, *args]))


def kustomize(path: Path) -> list[dict[str, Any]]:
    return docs(run([require(binaries.kustomize, "kustomize"), "build", path]))


def key(doc: dict[str, Any]) -> Key:
    meta = doc["metadata"]
    return (doc["kind"], meta.get("namespace", ""), meta["name"])


def normalise(doc: dict[str, Any]) -> dict[str, Any]:
    """The object without Helm's standard labels (top-level metadata only; selectors never carry them)."""
    labels = doc["metadata"].get("labels")
    if labels is not None:
        kept = {k: v for k, v in labels.items() if k not in HELM_LABELS}
        doc = {**doc, "metadata": {**doc["metadata"], "labels": kept}}
    return doc


def by_key(objects: Iterable[dict[str, Any]]) -> dict[Key, dict[str, Any]]:
    found: dict[Key, dict[str, Any]] = {}
    for doc in objects:
        assert key(doc) not in found, f"rendered twice: {key(doc)}"
        found[key(doc)] = normalise(doc)
    return found


def image_values(overlay: Path) -> list[str]:
    """`--set` flags giving the chart the image an overlay's `images:` entry names (the release bumps the
    overlays' tag and digest; the chart's own default tag is its appVersion)."""
    kustomization = docs((overlay / "kustomization.yaml").read_text())[0]
    [image] = [i for i in kustomization.get("images", []) if i["name"] == "webstack-operator"]
    flags = ["--set", f"image.repository={image['newName']}", "--set", f"image.tag={image['newTag']}"]
    if "digest" in image:
        flags += ["--set", f"image.digest={image['digest']}"]
    return flags


class Release:
    """One release, driven by the cached Helm with its own config and cache dirs (not the user's)."""

    def __init__(self, cluster: KubeTarget, home: Path, namespace: str, values: list[str]) -> None:
        self.cluster, self.home, self.namespace, self.values = cluster, home, namespace, values
        self.binary = require(helm, "helm")

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {
            "PATH": "/usr/bin:/bin",
            "HELM_CACHE_HOME": str(self.home / "cache"),
            "HELM_CONFIG_HOME": str(self.home / "config"),
            "HELM_DATA_HOME": str(self.home / "data"),
        }
        cmd = [str(self.binary), *args, "--kubeconfig", str(self.cluster.kubeconfig_path)]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False, env=env)
        assert not check or result.returncode == 0, f"helm {' '.join(args)}:\n{result.stderr}"
        return result

    def objects(self, kind: str, namespace: str | None = None) -> list[dict[str, Any]]:
        scope = ["-n", namespace] if namespace else []
        out = self.cluster.kubectl(
            "get", kind, *scope, "-l", "app.kubernetes.io/instance=" + self.name, "-o", "json"
        )
        return list(json.loads(out.stdout)["items"])

    @property
    def name(self) -> str:
        return f"ws-{self.namespace}"


def isolated_values(namespaces: dict[str, str]) -> list[str]:
    """A release that shares a cluster with other tests' installs: the namespaced mode over its own
    namespaces (`op`, `a`, `b`, `velero`), no cluster-scoped objects of its own but the CRD."""
    return [
        "--set", "rbac.scope=namespaced",
        "--set", f"rbac.watchNamespaces={{{namespaces['a']},{namespaces['b']}}}",
        "--set", f"rbac.veleroNamespace={namespaces['velero']}",
        "--set", "priorityClasses.create=false",
        "--set", "flowControl.enabled=false",
    ]  # fmt: skip


@contextmanager
def isolated_release(cluster: KubeTarget, home: Path, values: list[str]) -> Iterator[Release]:
    """A release in namespaces of its own (`isolated_values`) with `values` on top; uninstalled, and its
    namespaces deleted, afterwards."""
    suffix = uuid.uuid4().hex[:6]
    namespaces = {role: f"helm-{role}-{suffix}" for role in ("op", "a", "b", "velero")}
    for ns in namespaces.values():
        cluster.kubectl("create", "namespace", ns)
    rel = Release(cluster, home, namespaces["op"], [*isolated_values(namespaces), *values])
    try:
        yield rel
    finally:
        rel.helm("uninstall", rel.name, "-n", rel.namespace, "--wait", check=False)
        cluster.kubectl("delete", "namespace", *namespaces.values(), "--wait=false", check=False)

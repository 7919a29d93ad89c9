"""The passwords a cluster's WebStacks hold: every generated credentials Secret's `password` (database and
cache), read back for the run's search of its logs (kubelocal.leaks)."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kubelocal.binaries import Binaries
from kubelocal.kubectl import run_kubectl

MANAGED_BY = "app.kubernetes.io/managed-by=webstack-operator"
GENERATED_ANNOTATION = "webstack.dev/generated"


def generated_passwords(secret_list: Mapping[str, Any]) -> list[str]:
    """From a `kubectl get secrets -o json` List: the `password` of each Secret the operator generated."""
    found: list[str] = []
    for item in secret_list.get("items") or []:
        annotations = (item.get("metadata") or {}).get("annotations") or {}
        value = (item.get("data") or {}).get("password")
        if annotations.get(GENERATED_ANNOTATION) == "true" and value:
            found.append(base64.b64decode(value).decode())
    return found


def webstack_passwords(kubeconfig: Path) -> list[str]:
    """Every generated password in the cluster, all namespaces (a kubelocal.leaks harvester)."""
    result = run_kubectl(
        Binaries.locate().kubectl,
        kubeconfig,
        ("get", "secrets", "--all-namespaces", "-l", MANAGED_BY, "-o", "json"),
        None,
        True,
        60,
    )
    return generated_passwords(json.loads(result.stdout))

"""API Priority and Fairness: deploy/operator's FlowSchema and PriorityLevelConfiguration apply, and the
apiserver files the operator's Lease requests under them (and the rest of its traffic elsewhere).

Which FlowSchema and priority level classified a request is in every answer's `X-Kubernetes-PF-FlowSchema-UID`
and `X-Kubernetes-PF-PriorityLevel-UID` headers; the requests here are made with a token of the operator's
own ServiceAccount, as the pod's would be.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
BASE = ROOT / "deploy" / "operator"
NAMESPACE, ACCOUNT, LEASE = "webstack-system", "webstack-operator", "webstack-operator"
NAME = "webstack-operator-leader-election"  # the FlowSchema and its priority level


def _uid(cluster: KubeTarget, kind: str, name: str) -> str:
    found = json.loads(cluster.kubectl("get", kind, name, "-o", "json").stdout)
    return str(found["metadata"]["uid"])


def _classified(kubeconfig: Path, path: str) -> tuple[str, str]:
    """(FlowSchema UID, PriorityLevel UID) the apiserver reports for a GET of `path` with that kubeconfig's
    credentials (the answer's status does not matter: classification comes before authorization)."""
    config: dict[str, Any] = json.loads(kubeconfig.read_text())
    cluster, user = config["clusters"][0]["cluster"], config["users"][0]["user"]
    context = ssl.create_default_context()
    if cluster.get("certificate-authority-data"):
        context.load_verify_locations(cadata=base64.b64decode(cluster["certificate-authority-data"]).decode())
    elif cluster.get("certificate-authority"):
        context.load_verify_locations(cafile=cluster["certificate-authority"])
    request = urllib.request.Request(
        cluster["server"].rstrip("/") + path, headers={"Authorization": f"Bearer {user['token']}"}
    )
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            headers = answer.headers
    except urllib.error.HTTPError as e:
        headers = e.headers
    return headers.get("X-Kubernetes-PF-FlowSchema-UID", ""), headers.get(
        "X-Kubernetes-PF-PriorityLevel-UID", ""
    )


@pytest.fixture(scope="module")
def installed(platform: KubeTarget) -> KubeTarget:
    platform.kubectl(
        "apply", "--server-side", "--force-conflicts", "--field-manager=test-flowcontrol", "-k", str(BASE)
    )
    return platform


def test_the_operators_lease_requests_have_their_own_priority_level(installed: KubeTarget) -> None:
    schema = _uid(installed, "flowschema", NAME)
    level = _uid(installed, "prioritylevelconfiguration", NAME)
    kubeconfig = installed.mint_kubeconfig(NAMESPACE, ACCOUNT)
    lease = f"/apis/coordination.k8s.io/v1/namespaces/{NAMESPACE}/leases/{LEASE}"
    eventually(  # the apiserver's APF configuration follows the objects within a moment
        lambda: _classified(kubeconfig, lease),
        until=lambda found: found == (schema, level),
        timeout=30,
        what=f"a Lease GET of the operator's ServiceAccount classified under {NAME}",
    )
    # The rest of its traffic stays where it was: its own reconciles never take the renewals' seats.
    other = _classified(kubeconfig, f"/api/v1/namespaces/{NAMESPACE}/configmaps")
    assert other[0] and other[0] != schema, other
    assert other[1] != level, other

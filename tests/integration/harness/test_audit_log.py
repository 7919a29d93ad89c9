"""The local apiserver's audit log (kubelocal.audit_log) records what its policy says: the operator account's
writes with user, verb and object but no body, its Lease writes with their body, and no read and nobody
else's write.

The token here comes from a TokenRequest (`kubectl create token`) and is bound to no pod, so its events carry
no `authentication.kubernetes.io/pod-name` in `user.extra`, and tests/support/audit.py's `operator_writes`
leaves them out. That a pod's projected token puts the pod's name there needs a pod on the real node: the
in-cluster operator's tests (tests/integration/realnode) read it.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.support.audit import POD_NAME_EXTRA, audit_log_or_skip, events, operator_writes

from kubelocal.audit_log import OPERATOR_ACCOUNT, OPERATOR_NAMESPACE, OPERATOR_USER, WRITE_VERBS
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster


@dataclass
class OperatorAccount:
    """The operator's ServiceAccount, allowed (by a Role of this test) to create ConfigMaps and Leases."""

    as_operator: KubeTarget
    probe: str  # the name of every object this test makes


def _absent(cluster: KubeTarget, *what: str) -> bool:
    return cluster.kubectl("get", *what, check=False).returncode != 0


@pytest.fixture
def operator_account(cluster: KubeTarget) -> Iterator[OperatorAccount]:
    """The namespace and account as deploy/operator names them: created if absent (test_install and
    test_rbac apply the real ones server-side in this session, before or after) and then deleted, with
    everything else this test made; what existed is left as it was."""
    probe = f"audit-probe-{uuid.uuid4().hex[:8]}"
    own_namespace = _absent(cluster, "namespace", OPERATOR_NAMESPACE)
    if own_namespace:
        cluster.kubectl("create", "namespace", OPERATOR_NAMESPACE)
    own_account = _absent(cluster, "serviceaccount", OPERATOR_ACCOUNT, "-n", OPERATOR_NAMESPACE)
    if own_account:
        cluster.kubectl("create", "serviceaccount", OPERATOR_ACCOUNT, "-n", OPERATOR_NAMESPACE)
    ns = f"--namespace={OPERATOR_NAMESPACE}"
    made = [("role", probe), ("rolebinding", probe), ("configmap", probe), ("configmap", f"{probe}-admin")]
    try:
        cluster.kubectl("create", "role", probe, ns, "--verb=create,get", "--resource=configmaps,leases")
        account = f"--serviceaccount={OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
        cluster.kubectl("create", "rolebinding", probe, ns, f"--role={probe}", account)
        as_operator = KubeTarget(cluster.mint_kubeconfig(OPERATOR_NAMESPACE, OPERATOR_ACCOUNT, "10m"))
        try:
            yield OperatorAccount(as_operator, probe)
        finally:
            as_operator.close()
    finally:
        for kind, name in made:
            cluster.kubectl("delete", kind, name, ns, "--ignore-not-found")
        cluster.kubectl("delete", "lease", probe, ns, "--ignore-not-found")
        if own_account:
            cluster.kubectl("delete", "serviceaccount", OPERATOR_ACCOUNT, ns, "--ignore-not-found")
        if own_namespace:  # gone, not terminating, when a later module applies deploy/operator
            cluster.kubectl("delete", "namespace", OPERATOR_NAMESPACE, "--wait=true", "--timeout=90s")


def _lease(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": name, "namespace": OPERATOR_NAMESPACE},
        "spec": {"holderIdentity": f"{name}_0a1b2c3d", "leaseDurationSeconds": 15},
    }


def test_the_operator_accounts_writes_are_logged_with_a_body_for_leases_only(
    cluster: KubeTarget, operator_account: OperatorAccount
) -> None:
    path = audit_log_or_skip(cluster)
    since = datetime.now(UTC)
    probe, as_operator, ns = operator_account.probe, operator_account.as_operator, f"-n={OPERATOR_NAMESPACE}"
    as_operator.kubectl("create", "configmap", probe, ns, "--from-literal=greeting=hello")
    as_operator.kubectl("get", "configmap", probe, ns)  # a read: not logged
    as_operator.kubectl("create", "-f", "-", input=json.dumps(_lease(probe)))
    cluster.kubectl("create", "configmap", f"{probe}-admin", ns)  # another user's write: not logged

    def recorded() -> list[dict[str, Any]]:
        return [e for e in events(path) if datetime.fromisoformat(e["requestReceivedTimestamp"]) >= since]

    logged = eventually(
        recorded,
        until=lambda found: len([e for e in found if (e.get("objectRef") or {}).get("name") == probe]) >= 2,
        timeout=30,
        what=f"the account's two writes in {path}",
    )
    ours = {e["objectRef"]["resource"]: e for e in logged if (e.get("objectRef") or {}).get("name") == probe}
    assert sorted(ours) == ["configmaps", "leases"], logged
    for event in ours.values():
        assert event["user"]["username"] == OPERATOR_USER, event
        assert (event["verb"], event["stage"], event["responseStatus"]["code"]) == (
            "create",
            "ResponseComplete",
            201,
        ), event
        assert event["objectRef"]["namespace"] == OPERATOR_NAMESPACE, event
        assert POD_NAME_EXTRA not in (event["user"].get("extra") or {}), event  # bound to no pod
    configmap, lease = ours["configmaps"], ours["leases"]
    assert configmap["level"] == "Metadata" and "requestObject" not in configmap, configmap
    assert "hello" not in json.dumps(configmap)  # no body: a Secret's data would not be here either
    assert lease["level"] == "Request", lease
    assert lease["requestObject"]["spec"]["holderIdentity"] == f"{probe}_0a1b2c3d", lease
    # Nothing but the account's writes: no read of it, no write of the admin's.
    assert all(e["user"]["username"] == OPERATOR_USER and e["verb"] in WRITE_VERBS for e in logged), logged
    assert not [e for e in logged if (e.get("objectRef") or {}).get("name") == f"{probe}-admin"], logged
    # The parser counts a pod's writes only: these two are no operator pod's.
    assert operator_writes(path, since) == []

"""`webstack.dev/drill` on kwok: the operator starts a drill (the scratch namespace with its policies,
Secret, Service and Postgres; the restore Job in the stack's namespace), follows it, records it in
`status.backup.lastDrill` and `BackupHealthy`, and deletes the scratch namespace.

A kwok pod runs no process: the restore Job "completes" with no verdict, so the drill is recorded as failed
with reason `NoVerdict`, which is exactly what a restore client that dies without a word must give. The
restore itself is proven by test_drill_scripts.py (the script against real servers) and on real pods
(tests/integration/realnode/test_restore_drill.py).
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, condition, events, get_json, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from webstack_operator.builders.drill import DRILL_ID, scratch_namespace_name
from webstack_operator.objects import labels
from webstack_operator.reconcile.drill_action import DRILL_ANNOTATION

pytestmark = pytest.mark.cluster

SPEC: dict[str, Any] = {
    "backend": {"image": "ghcr.io/webstack-dev/users-api:0.1.0"},
    "backup": {"enabled": True, "dump": {"claimName": "dumps"}, "drill": {"enabled": True, "period": "24h"}},
}
REQUEST = "2026-12-06T22:00:00Z"


def test_a_drill_request_runs_one_drill_records_it_and_removes_the_scratch_namespace(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    claim = {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "dumps", "namespace": namespace},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
    }
    platform.apply(claim)
    apply_webstack(platform, namespace, "shop", SPEC)
    wait_phase(platform, namespace, "shop")
    cronjob = get_json(platform, "cronjob", "shop-dump", "-n", namespace)
    assert cronjob["spec"]["schedule"] == "0 3 * * *"
    scratch = scratch_namespace_name(namespace, "shop")

    platform.kubectl("annotate", "webstack", "shop", "-n", namespace, f"{DRILL_ANNOTATION}={REQUEST}")

    made = eventually(
        lambda: platform.kubectl("get", "namespace", scratch, "-o", "json", check=False),
        until=lambda r: r.returncode == 0,
        timeout=60,
        what=f"the scratch namespace {scratch}",
    )
    assert DRILL_ID in made.stdout
    job = get_json(platform, "job", "shop-drill", "-n", namespace)
    assert job["metadata"]["annotations"][DRILL_ID] == REQUEST
    ws = eventually(
        lambda: get_json(platform, "webstack", "shop", "-n", namespace),
        until=lambda w: (
            ((w.get("status") or {}).get("backup") or {}).get("lastDrill", {}).get("id") == REQUEST
        ),
        timeout=120,
        what="the drill recorded in status",
    )
    assert DRILL_ANNOTATION not in (ws["metadata"].get("annotations") or {})
    record = ws["status"]["backup"]["lastDrill"]
    assert (record["result"], record["reason"]) == ("Failed", "NoVerdict"), record
    healthy = condition(ws, "BackupHealthy")
    assert (healthy["status"], healthy["reason"]) == ("False", "DrillFailed"), healthy
    eventually(
        lambda: platform.kubectl("get", "namespace", scratch, "-o", "json", check=False),
        until=lambda r: r.returncode != 0 or '"deletionTimestamp"' in r.stdout,
        timeout=60,
        what=f"the scratch namespace {scratch} deleted",
    )
    reasons = [e["reason"] for e in events(platform, namespace, "shop")]
    assert reasons.count("DrillStarted") == 1 and reasons.count("DrillFailed") == 1, reasons

    # A drill's scratch namespace left behind (the stack deleted mid-drill, say): the finalizer deletes it.
    leftover = {labels.INSTANCE: "shop", labels.STACK_NAMESPACE: namespace}
    eventually(
        lambda: platform.kubectl("get", "namespace", scratch, check=False).returncode,
        until=lambda rc: rc != 0,
        timeout=120,
        what=f"the scratch namespace {scratch} gone",
    )
    platform.apply(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": scratch, "labels": leftover}}
    )
    platform.kubectl("delete", "webstack", "shop", "-n", namespace, "--timeout=60s")
    eventually(
        lambda: platform.kubectl("get", "namespace", scratch, "-o", "json", check=False),
        until=lambda r: r.returncode != 0 or '"deletionTimestamp"' in r.stdout,
        timeout=60,
        what=f"the leftover scratch namespace {scratch} deleted with its WebStack",
    )

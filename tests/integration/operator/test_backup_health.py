"""Backup health in status, from the Backups Velero makes (here: created with the statuses Velero writes).

No Velero runs on the local control plane; its CRDs do. A Backup made from a Schedule carries the
Schedule's labels plus `velero.io/schedule-name` (Velero's BackupBuilder.FromSchedule), so the test makes
them exactly so, then checks the WebStack's `status.backup`, its `BackupHealthy` condition and the
`kubectl get ws` column; and that neither pruning the Schedule nor deleting the stack touches a Backup.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, condition, get_json, wait_phase

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
EVERY_SIX_HOURS = "0 */6 * * *"  # longest gap 6 h: unhealthy without a success within 12 h
STACK = {"backend": {"image": IMAGE}, "backup": {"enabled": True, "schedule": EVERY_SIX_HOURS}}


def _stamp(hours_ago: float) -> str:
    when = dt.datetime.now(dt.UTC) - dt.timedelta(hours=hours_ago)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _schedule(cluster: KubeTarget, ns: str) -> dict[str, Any]:
    def find() -> list[dict[str, Any]]:
        items = get_json(cluster, "schedules.velero.io", "-n", "velero")["items"]
        return [i for i in items if i["metadata"]["labels"].get("webstack.dev/stack-namespace") == ns]

    return eventually(find, until=lambda s: len(s) == 1, timeout=60, what="the stack's Schedule")[0]


def _backup(
    schedule: dict[str, Any], name: str, phase: str, started: str, completed: str | None
) -> dict[str, Any]:
    """A Backup as Velero makes it from `schedule`, with the status Velero writes when it ends."""
    status: dict[str, Any] = {"phase": phase, "startTimestamp": started, "version": 1}
    if completed is not None:
        status["completionTimestamp"] = completed
    if phase == "Failed":
        status["failureReason"] = "error getting backup storage location: not found"
    return {
        "apiVersion": "velero.io/v1",
        "kind": "Backup",
        "metadata": {
            "name": name,
            "namespace": "velero",
            "labels": {
                **schedule["metadata"]["labels"],
                "velero.io/schedule-name": schedule["metadata"]["name"],
            },
        },
        "spec": schedule["spec"]["template"],
        "status": status,
    }


def _ws(cluster: KubeTarget, ns: str) -> dict[str, Any]:
    return get_json(cluster, "webstack", "shop", "-n", ns)


def _healthy(cluster: KubeTarget, ns: str, status: str, reason: str) -> dict[str, Any]:
    return eventually(
        lambda: _ws(cluster, ns),
        until=lambda w: (
            (condition(w, "BackupHealthy").get("status"), condition(w, "BackupHealthy").get("reason"))
            == (status, reason)
        ),
        timeout=60,
        what=f"BackupHealthy={status} {reason}",
    )


def test_backup_health_follows_veleros_backups_and_the_operator_never_deletes_one(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", STACK)
    wait_phase(platform, namespace, "shop")
    schedule = _schedule(platform, namespace)
    base = f"{schedule['metadata']['name']}-"
    names: list[str] = []

    def make(suffix: str, phase: str, hours_ago: float, completed: bool = True) -> None:
        started = _stamp(hours_ago)
        platform.apply(
            _backup(schedule, base + suffix, phase, started, _stamp(hours_ago - 0.1) if completed else None)
        )
        names.append(base + suffix)

    try:
        ws = _healthy(platform, namespace, "Unknown", "AwaitingFirstBackup")  # a new Schedule, no backup yet
        assert "backup" not in ws["status"]

        make("1", "Completed", 1.0)
        ws = _healthy(platform, namespace, "True", "BackupSucceeded")
        assert ws["status"]["backup"]["lastBackup"] == base + "1"
        assert ws["status"]["backup"]["lastBackupPhase"] == "Completed"
        assert ws["status"]["backup"]["lastSuccessfulTime"] == _backup_completion(platform, base + "1")
        table = platform.kubectl("get", "webstack", "shop", "-n", namespace).stdout.splitlines()
        assert "LAST BACKUP" in table[0]
        age = table[1][table[0].index("LAST BACKUP") :].split()[0]  # kubectl aligns each column's start
        assert age in ("53m", "54m", "55m", "56m"), table  # it completed 0.9 h before it was made

        make("2", "Failed", 0.5)
        ws = _healthy(platform, namespace, "False", "BackupFailed")
        message = condition(ws, "BackupHealthy")["message"]
        assert base + "2" in message and "velero backup logs" in message
        assert (
            ws["status"]["phase"] == "Ready"
        )  # the stack serves; the condition and the alert say what is wrong

        make("3", "InProgress", 0.1, completed=False)  # judged by the one before it: still failing
        ws = eventually(
            lambda: _ws(platform, namespace),
            until=lambda w: w["status"].get("backup", {}).get("lastBackupPhase") == "InProgress",
            timeout=60,
            what="the Backup in progress seen",
        )
        assert condition(ws, "BackupHealthy")["reason"] == "BackupFailed"

        # Only a success from 13 h ago left (Velero expired the others): more than twice the period.
        for name in names:
            platform.kubectl("delete", "backups.velero.io", name, "-n", "velero")
        names.clear()
        make("old", "Completed", 13.1)
        _healthy(platform, namespace, "False", "NoRecentBackup")

        # Backups turned off: the Schedule is pruned, the Backups stay (they are the data), status forgets.
        apply_webstack(platform, namespace, "shop", {**STACK, "backup": {"enabled": False}})
        eventually(
            lambda: _ws(platform, namespace),
            until=lambda w: (
                "backup" not in w["status"]
                and all(c["type"] != "BackupHealthy" for c in w["status"]["conditions"])
            ),
            timeout=60,
            what="status.backup and BackupHealthy gone",
        )
        assert _backups(platform, names) == names

        apply_webstack(platform, namespace, "shop", STACK)
        _healthy(platform, namespace, "False", "NoRecentBackup")
        platform.kubectl("delete", "webstack", "shop", "-n", namespace, "--timeout=60s")
        assert _backups(platform, names) == names  # the finalizer deleted the Schedule, not the backups
    finally:
        for name in names:
            platform.kubectl("delete", "backups.velero.io", name, "-n", "velero", check=False)


def _backup_completion(cluster: KubeTarget, name: str) -> str:
    return str(get_json(cluster, "backups.velero.io", name, "-n", "velero")["status"]["completionTimestamp"])


def _backups(cluster: KubeTarget, names: list[str]) -> list[str]:
    items = get_json(cluster, "backups.velero.io", "-n", "velero")["items"]
    present = {i["metadata"]["name"] for i in items}
    return [n for n in names if n in present]

"""kubelocal.audit_log: the policy records the operator account's Lease writes with their bodies and its
other writes without, and nothing else; the apiserver's flags; the log's files in order."""

from __future__ import annotations

from pathlib import Path

from kubelocal import audit_log


def test_the_policy_keeps_lease_bodies_and_other_writes_bare_for_the_operator_account_only() -> None:
    policy = audit_log.policy()
    assert (policy["apiVersion"], policy["kind"]) == ("audit.k8s.io/v1", "Policy")
    assert policy["omitStages"] == ["RequestReceived"]
    lease, writes, rest = policy["rules"]
    user = "system:serviceaccount:webstack-system:webstack-operator"
    assert user == audit_log.OPERATOR_USER
    assert lease == {
        "level": "Request",
        "users": [user],
        "verbs": ["create", "update"],
        "namespaces": ["webstack-system"],
        "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}],
    }
    assert writes == {
        "level": "Metadata",
        "users": [user],
        "verbs": ["create", "update", "patch", "delete", "deletecollection"],
    }
    # No rule records a read, and no rule but the Lease's records a body (Secrets pass at Metadata).
    assert rest == {"level": "None"}


def test_another_account_can_be_named() -> None:
    policy = audit_log.policy("system:serviceaccount:ops:op", "ops")
    assert [r.get("users") for r in policy["rules"]] == [["system:serviceaccount:ops:op"]] * 2 + [None]
    assert policy["rules"][0]["namespaces"] == ["ops"]


def test_apiserver_flags_write_json_lines_rotated_once(tmp_path: Path) -> None:
    flags = audit_log.apiserver_flags(tmp_path / "policy.json", tmp_path / "audit.log")
    assert flags == [
        f"--audit-policy-file={tmp_path / 'policy.json'}",
        f"--audit-log-path={tmp_path / 'audit.log'}",
        "--audit-log-format=json",
        f"--audit-log-maxsize={audit_log.MAX_SIZE_MB}",
        "--audit-log-maxbackup=1",
    ]


def test_the_log_files_are_the_backup_then_the_live_one(tmp_path: Path) -> None:
    live = tmp_path / audit_log.LOG_NAME
    assert audit_log.log_files(live) == []
    backup = tmp_path / "kube-apiserver-audit-2026-12-06T16-00-03.000.log"
    for path in (live, backup, tmp_path / "kube-apiserver.log"):
        path.write_text("{}\n")
    assert audit_log.log_files(live) == [backup, live]

"""The apiserver's audit log: which requests it records (the in-cluster operator's writes), and its files.

It exists so that a test can say which operator *pod* wrote what. An operator pod's projected token is
bound to the pod, so the apiserver puts the pod's name into every event's `user.extra`
(`authentication.kubernetes.io/pod-name`), kopf's own requests included; counters reset with a pod, and
managedFields name one field manager for every replica. tests/support/audit.py reads the events.

Only the operator's ServiceAccount is recorded, and none of its reads: the shared operator, the control
plane and the tests (admin) cost nothing. The log is one of the files the run's search for leaked
passwords reads (kubelocal.leaks): what it records holds no password. Metadata events carry no bodies
(user, verb, object reference, code), and the only bodies recorded are the operator's Lease writes, whose
spec is a holder identity and times.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

OPERATOR_NAMESPACE = "webstack-system"
OPERATOR_ACCOUNT = "webstack-operator"
# The one user the policy records: the operator's ServiceAccount as deploy/operator installs it.
OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_ACCOUNT}"
POLICY_NAME = "audit-policy.json"
LOG_NAME = "kube-apiserver-audit.log"
WRITE_VERBS = ("create", "update", "patch", "delete", "deletecollection")
# A whole test run writes well under a megabyte (only the operator account's writes are kept), so the cap
# only bounds a runaway; at the cap the file is rotated once (`log_files` reads both).
MAX_SIZE_MB = 64
MAX_BACKUPS = 1


def policy(user: str = OPERATOR_USER, lease_namespace: str = OPERATOR_NAMESPACE) -> dict[str, Any]:
    """The audit Policy (audit.k8s.io/v1; JSON is YAML), first matching rule wins:
    1. the operator's Lease takes and renewals with their bodies: the holder identity says whose term
       begins (`Request`);
    2. every other write of the operator's account, without bodies (`Metadata`);
    3. nothing else.
    Each request is recorded once, when its response is complete."""
    return {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "omitManagedFields": True,
        "rules": [
            {
                "level": "Request",
                "users": [user],
                "verbs": ["create", "update"],
                "namespaces": [lease_namespace],
                "resources": [{"group": "coordination.k8s.io", "resources": ["leases"]}],
            },
            {"level": "Metadata", "users": [user], "verbs": list(WRITE_VERBS)},
            {"level": "None"},
        ],
    }


def apiserver_flags(policy_path: Path, log_path: Path) -> list[str]:
    """kube-apiserver's flags for a JSON-lines log at `log_path` under the policy file at `policy_path`."""
    return [
        f"--audit-policy-file={policy_path}",
        f"--audit-log-path={log_path}",
        "--audit-log-format=json",
        f"--audit-log-maxsize={MAX_SIZE_MB}",
        f"--audit-log-maxbackup={MAX_BACKUPS}",
    ]


def log_files(path: Path) -> list[Path]:
    """The log's files, oldest first: a rotated backup (named `<stem>-<timestamp><suffix>` by the
    apiserver's rotation, so that names sort by time) and then the live file, each only if present."""
    backups = sorted(path.parent.glob(f"{path.stem}-*{path.suffix}"))
    return [*backups, *([path] if path.exists() else [])]

"""A credentials rotation on real pods under a bounded load of reads and writes through the frontend: no
request fails, the backend ends up on the other login role with a new password, the old password is
refused by Postgres, the new one works, and the WebStack's status and Events tell the rotation.

The stack is the package's demo stack (conftest.py), reconciled by the installed operator; the rotation is
asked for the way a user does (`webstack.dev/regenerate-credentials`). Logins are tried inside the Postgres
pod over TCP (as the backend logs in), with the password on psql's stdin, never on a command line. The
figures go to docs/benchmarks.md ("Real pods") and the output to docs/ops/backup-dr.md. Velero's pre-backup
hook is run by hand afterwards: it must still dump.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from tests.support.incluster import InCluster
from tests.support.load import Load
from tests.support.operator import get_json
from tests.support.reach import service_url

from kubelocal import leaks
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

ANSWERED = 20  # answers before and after: the load really ran through the rotation
ROTATION_TIMEOUT = 360.0  # a roll of the backend and two Jobs on the shared two cores, generously


@pytest.fixture(scope="module")
def frontend(installed: InCluster, demo: dict[str, Any]) -> Iterator[str]:
    namespace, name = demo["metadata"]["namespace"], demo["metadata"]["name"]
    with service_url(installed.cluster, namespace, f"{name}-frontend") as url:
        yield url


def _credentials(cluster: KubeTarget, namespace: str, name: str) -> dict[str, str]:
    data = get_json(cluster, "secret", f"{name}-postgres", "-n", namespace)["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in data.items()}
    for key in ("password", "next-password", "previous-password"):
        if key in decoded:
            leaks.note_secret(decoded[key])  # the run's log search looks for these too
    return decoded


def _logs_in(cluster: KubeTarget, namespace: str, name: str, user: str, password: str) -> bool:
    """Whether Postgres accepts `user` with `password` over TCP (scram-sha-256, as for the backend)."""
    script = f'PGPASSWORD="$(cat)" psql -h 127.0.0.1 -U {user} -d webstack -XtAc "SELECT current_user"'
    result = cluster.kubectl(
        "-n", namespace, "exec", "-i", f"{name}-postgres-0", "-c", "postgres", "--", "sh", "-c", script,
        input=password, check=False,
    )  # fmt: skip
    return result.returncode == 0 and result.stdout.strip() == "webstack"


def _rotation(cluster: KubeTarget, namespace: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    status = get_json(cluster, "webstack", name, "-n", namespace).get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c["type"] == "CredentialsRotated"), {})
    return status.get("credentials") or {}, condition


def _answered_since(load: Load, since: float) -> int:
    return sum(1 for r in load.records() if r.ok and r.started >= since)


def test_a_rotation_under_load_fails_no_request_and_refuses_the_old_password(
    installed: InCluster, demo: dict[str, Any], frontend: str
) -> None:
    cluster = installed.cluster
    namespace, name = demo["metadata"]["namespace"], demo["metadata"]["name"]
    before = _credentials(cluster, namespace, name)
    assert _logs_in(cluster, namespace, name, before["username"], before["password"])
    request = f"rotate-{uuid.uuid4().hex[:6]}"
    phases: list[str] = []  # each phase seen, with the seconds since the annotation when first seen

    def progress() -> tuple[dict[str, Any], dict[str, Any]]:
        credentials, condition = _rotation(cluster, namespace, name)
        phase = (credentials.get("rotation") or {}).get("phase") or condition.get("reason", "")
        if phase and (not phases or not phases[-1].startswith(phase)):
            phases.append(f"{phase} +{time.monotonic() - started:.1f}s")
        return credentials, condition

    with Load(frontend, clients=4, rate=20, duration=300) as load:
        eventually(lambda: _answered_since(load, 0), until=lambda n: n >= ANSWERED, timeout=60, what="load")
        started = time.monotonic()
        cluster.kubectl(
            "-n", namespace, "annotate", "webstack", name, f"webstack.dev/regenerate-credentials={request}"
        )
        credentials, condition = eventually(
            progress,
            until=lambda seen: seen[1].get("status") in ("True", "False") and "rotation" not in seen[0],
            timeout=ROTATION_TIMEOUT,
            interval=1.0,
            what="the rotation to finish",
        )
        took = time.monotonic() - started
        finished = time.monotonic()
        eventually(
            lambda: _answered_since(load, finished),
            until=lambda n: n >= ANSWERED,
            timeout=60,
            what="answers after the rotation",
        )
    summary = load.summary
    print(
        f"[figures] credentials rotation under load: {took:.1f}s from the annotation to CredentialsRotated; "
        f"phases {phases}; {len(summary.records)} requests, {len(summary.failures)} failed; {summary.counts}"
    )
    print(f"[output] status.credentials: {json.dumps(credentials)}")
    print(f"[output] CredentialsRotated: {json.dumps(condition)}")
    events = get_json(cluster, "events", "-n", namespace, "--field-selector", f"involvedObject.name={name}")
    for event in sorted(events["items"], key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or ""):
        if "Credentials" in event.get("reason", ""):
            print(f"[output] event {event['type']} {event['reason']}: {event['message']}")
    assert condition.get("status") == "True", condition
    assert condition.get("reason") == "Rotated" and credentials.get("lastRotationTime"), credentials
    assert summary.failures == (), [(r.operation, r.outcome) for r in summary.failures]
    assert summary.acknowledged, "no write was acknowledged during the rotation: it proved nothing"

    after = _credentials(cluster, namespace, name)
    assert after["username"] != before["username"] and after["password"] != before["password"]
    assert {after["username"], before["username"]} == {"webstack", "webstack_b"}
    assert not set(after) & {"next-username", "next-password", "previous-username", "previous-password"}
    assert _logs_in(cluster, namespace, name, after["username"], after["password"])
    assert not _logs_in(cluster, namespace, name, before["username"], before["password"])
    annotations = get_json(cluster, "webstack", name, "-n", namespace)["metadata"].get("annotations") or {}
    assert "webstack.dev/regenerate-credentials" not in annotations  # the one-shot action is consumed
    # Velero's pre-backup hook still dumps (it logs in over the pod's socket, not with the old password).
    pod = get_json(cluster, "pod", f"{name}-postgres-0", "-n", namespace)["metadata"]["annotations"]
    for hook in ("pre", "post"):
        command = json.loads(pod[f"{hook}.hook.backup.velero.io/command"])
        ran = cluster.kubectl(
            "-n", namespace, "exec", f"{name}-postgres-0", "-c", "postgres", "--", *command, check=False
        )  # fmt: skip
        assert ran.returncode == 0, (hook, ran.stderr)

"""The credentials rotation's steps on a real control plane (the Jobs "run" through kwok, which completes a
Job's pods, or fails them when the image says `migration-fails`): the Secret moves to the other role only
after its prepare Job completed, the backend is restarted, the old role's keys go after the retire Job, a
second rotation comes back to the first role, and a failed step leaves the credentials in use untouched.

What the Jobs do inside Postgres is tested against a real server (tests/integration/users_api/
test_credentials_rotation.py), and the whole rotation under load on real pods
(tests/integration/realnode/test_credentials_rotation.py).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, events, get_json, wait_phase, webstack_doc

from kubelocal import leaks
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
FAILING = "ghcr.io/webstack-dev/users-api:0.2.0-migration-fails"  # kwok fails its Jobs' pods (exit 1)
ROTATION_KEYS = {"next-username", "next-password", "previous-username", "previous-password"}
REGENERATE = "webstack.dev/regenerate-credentials"


def condition(ws: dict[str, Any], ctype: str) -> dict[str, Any]:
    """The condition, or {} when status has none of that type."""
    found = [c for c in (ws.get("status") or {}).get("conditions") or [] if c["type"] == ctype]
    return dict(found[0]) if found else {}


def _secret(cluster: KubeTarget, ns: str) -> dict[str, str]:
    data = get_json(cluster, "secret", "shop-postgres", "-n", ns)["data"]
    decoded = {key: base64.b64decode(value).decode() for key, value in data.items()}
    for key in ("password", "next-password", "previous-password"):
        if key in decoded:
            leaks.note_secret(decoded[key])  # a rotated-away password is searched for in the logs too
    return decoded


def _rotated(cluster: KubeTarget, ns: str, status: str) -> dict[str, Any]:
    ws: dict[str, Any] = eventually(
        lambda: get_json(cluster, "webstack", "shop", "-n", ns),
        until=lambda w: (
            condition(w, "CredentialsRotated").get("status") == status
            and "rotation" not in ((w.get("status") or {}).get("credentials") or {})
            and REGENERATE not in (w["metadata"].get("annotations") or {})
        ),
        timeout=90,
        what=f"CredentialsRotated={status} with no rotation under way",
    )
    return ws


def _reasons(cluster: KubeTarget, ns: str) -> list[str]:
    return [e["reason"] for e in events(cluster, ns, "shop") if "Credentials" in e["reason"]]


def test_two_rotations_move_the_backend_to_the_other_role_and_back(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", {"backend": {"image": IMAGE}})
    ws = wait_phase(platform, namespace, "shop")
    assert condition(ws, "CredentialsRotated") == {}, "no condition before the first rotation"
    first = _secret(platform, namespace)
    assert first["username"] == "webstack"

    platform.kubectl("annotate", "webstack", "shop", "-n", namespace, f"{REGENERATE}=r1")
    ws = _rotated(platform, namespace, "True")
    second = _secret(platform, namespace)
    assert second["username"] == "webstack_b" and second["password"] != first["password"]
    assert not set(second) & ROTATION_KEYS and second["database"] == first["database"]
    assert condition(ws, "CredentialsRotated")["reason"] == "Rotated"
    assert ws["status"]["credentials"]["lastRotationTime"]
    backend = get_json(platform, "deployment", "shop-backend", "-n", namespace)
    assert "webstack.dev/restarted-at" in backend["spec"]["template"]["metadata"]["annotations"]
    reasons = _reasons(platform, namespace)
    assert {"CredentialsRotationStarted", "CredentialsSwitched", "CredentialsRotated"} <= set(reasons), (
        reasons
    )
    # The Jobs ran and are gone (pruned once their step was done).
    jobs = get_json(platform, "jobs", "-n", namespace, "-l", "app.kubernetes.io/component=credentials")
    assert jobs["items"] == [] or all(j["metadata"].get("deletionTimestamp") for j in jobs["items"])

    platform.kubectl("annotate", "webstack", "shop", "-n", namespace, f"{REGENERATE}=r2")
    eventually(
        lambda: _secret(platform, namespace),
        until=lambda s: s["username"] == "webstack" and not set(s) & ROTATION_KEYS,
        timeout=90,
        what="the second rotation back to the owner role",
    )
    third = _secret(platform, namespace)
    assert third["password"] not in (first["password"], second["password"])
    ws = _rotated(platform, namespace, "True")
    assert wait_phase(platform, namespace, "shop")["status"]["phase"] == "Ready"


def test_a_failed_step_stops_the_rotation_and_keeps_the_credentials_in_use(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", {"backend": {"image": IMAGE}})
    wait_phase(platform, namespace, "shop")
    before = _secret(platform, namespace)
    # A new image whose Jobs fail: its migration fails (the backend keeps running the old image), and so
    # does the prepare Job of a rotation asked for now (it runs in the desired image).
    apply_webstack(platform, namespace, "shop", {"backend": {"image": FAILING}})
    platform.kubectl("annotate", "webstack", "shop", "-n", namespace, f"{REGENERATE}=r1")
    ws = _rotated(platform, namespace, "False")
    failed = condition(ws, "CredentialsRotated")
    assert failed["reason"] == "RotationFailed"
    assert failed["message"].startswith("Preparing: a statement failed"), failed
    assert "were kept and still work" in failed["message"]
    assert _secret(platform, namespace) == before  # nothing of the rotation is left in the Secret
    warnings = [e for e in events(platform, namespace, "shop") if e["reason"] == "CredentialsRotationFailed"]
    assert len(warnings) == 1 and warnings[0]["type"] == "Warning"


def test_a_rotation_period_starts_its_clock_and_only_generated_credentials_take_one(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    spec = {"backend": {"image": IMAGE}, "database": {"credentials": {"rotationPeriod": "30d"}}}
    apply_webstack(platform, namespace, "shop", spec)
    wait_phase(platform, namespace, "shop")
    secret = eventually(
        lambda: get_json(platform, "secret", "shop-postgres", "-n", namespace),
        until=lambda s: "webstack.dev/credentials-since" in (s["metadata"].get("annotations") or {}),
        timeout=60,
        what="the schedule's start noted on the Secret",
    )
    assert "webstack.dev/rotation-phase" not in secret["metadata"]["annotations"]  # not due for 30 days
    referenced = {"credentials": {"secretRef": {"name": "mine"}, "rotationPeriod": "30d"}}
    doc = webstack_doc(namespace, {"backend": {"image": IMAGE}, "database": referenced}, "other")
    refused = platform.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(doc), check=False)
    assert refused.returncode != 0 and "rotationPeriod rotates generated credentials only" in refused.stderr

"""Data safety and ownership on a real control plane: the credentials follow the data, the operator never
takes (or deletes) what it did not create, and what it says in status and Events stays true.

Each test names the promise it checks; pods "run" through kwok, volumes are provisioned by kwok's stages.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import (
    OperatorProcess,
    condition,
    events,
    get_json,
    wait_phase,
)

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
MINIMAL: dict[str, Any] = {"backend": {"image": IMAGE}}
QUIET_SECONDS = 8.0  # long enough for several reconciles (debounce 0.2 s, child events, discovery 5 s)


def _ws(cluster: KubeTarget, ns: str, name: str) -> dict[str, Any]:
    return get_json(cluster, "webstack", name, "-n", ns)


def _warnings(cluster: KubeTarget, ns: str, name: str, reason: str) -> list[dict[str, Any]]:
    return [e for e in events(cluster, ns, name) if e["reason"] == reason and e["type"] == "Warning"]


def _exists(cluster: KubeTarget, *args: str) -> bool:
    return cluster.kubectl("get", *args, check=False).returncode == 0


def _our_refs(obj: dict[str, Any], ws: dict[str, Any]) -> list[dict[str, Any]]:
    uid = ws["metadata"]["uid"]
    return [r for r in obj["metadata"].get("ownerReferences") or [] if r["uid"] == uid]


def _password(cluster: KubeTarget, ns: str, stack: str) -> str:
    secret = get_json(cluster, "secret", f"{stack}-postgres", "-n", ns)
    return base64.b64decode(secret["data"]["password"]).decode()


def test_the_generated_secrets_owner_reference_follows_the_deletion_policy_both_ways(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", MINIMAL)  # deletionPolicy Retain by default
    ws = wait_phase(platform, namespace, "shop")
    secret = get_json(platform, "secret", "shop-postgres", "-n", namespace)
    assert _our_refs(secret, ws) == []
    password = _password(platform, namespace, "shop")

    apply_webstack(platform, namespace, "shop", {**MINIMAL, "database": {"deletionPolicy": "Delete"}})
    eventually(
        lambda: _our_refs(get_json(platform, "secret", "shop-postgres", "-n", namespace), ws),
        until=lambda refs: len(refs) == 1 and refs[0].get("controller") is True,
        timeout=60,
        what="Retain -> Delete: the Secret is owned by the WebStack",
    )
    apply_webstack(platform, namespace, "shop", {**MINIMAL, "database": {"deletionPolicy": "Retain"}})
    eventually(
        lambda: _our_refs(get_json(platform, "secret", "shop-postgres", "-n", namespace), ws),
        until=lambda refs: refs == [],
        timeout=60,
        what="Delete -> Retain: the Secret's owner reference is removed",
    )
    assert _password(platform, namespace, "shop") == password  # never rotated by a policy switch
    platform.kubectl("delete", "webstack", "shop", "-n", namespace, "--timeout=60s")
    time.sleep(3)  # garbage collection would have removed an owned Secret by now
    assert _exists(platform, "pvc", "data-shop-postgres-0", "-n", namespace)
    assert _password(platform, namespace, "shop") == password  # the data and its password survive


def test_missing_credentials_over_a_volume_with_data_are_not_regenerated_until_asked(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", MINIMAL)
    wait_phase(platform, namespace, "shop")
    eventually(
        lambda: _exists(platform, "pvc", "data-shop-postgres-0", "-n", namespace),
        until=bool,
        what="the database volume",
    )
    old = _password(platform, namespace, "shop")
    platform.kubectl("delete", "secret", "shop-postgres", "-n", namespace)

    ws = eventually(
        lambda: _ws(platform, namespace, "shop"),
        until=lambda w: condition(w, "DatabaseReady")["reason"] == "CredentialsMissing",
        timeout=60,
        what="DatabaseReady=False CredentialsMissing",
    )
    database = condition(ws, "DatabaseReady")
    assert database["status"] == "False" and "shop-postgres" in database["message"]
    assert "regenerate-credentials" in database["message"]
    assert ws["status"]["phase"] != "Ready"
    time.sleep(QUIET_SECONDS)
    assert not _exists(platform, "secret", "shop-postgres", "-n", namespace), "a new password was invented"
    assert len(_warnings(platform, namespace, "shop", "CredentialsMissing")) == 1

    # The documented recovery B: ask for a new password explicitly.
    platform.kubectl("annotate", "webstack", "shop", "-n", namespace, "webstack.dev/regenerate-credentials=1")
    eventually(
        lambda: _exists(platform, "secret", "shop-postgres", "-n", namespace),
        until=bool,
        timeout=60,
        what="the Secret regenerated on request",
    )
    assert _password(platform, namespace, "shop") != old
    eventually(
        lambda: _ws(platform, namespace, "shop"),
        until=lambda w: "webstack.dev/regenerate-credentials" not in (w["metadata"].get("annotations") or {}),
        timeout=60,
        what="the one-shot action consumed",
    )
    backend = get_json(platform, "deployment", "shop-backend", "-n", namespace)
    template = backend["spec"]["template"]["metadata"].get("annotations") or {}
    assert "webstack.dev/restarted-at" in template  # the backend restarts to read the new password
    assert [e for e in events(platform, namespace, "shop") if e["reason"] == "CredentialsRegenerated"]
    ws = wait_phase(platform, namespace, "shop")
    assert condition(ws, "DatabaseReady")["status"] == "True"


def _cache_secret(cluster: KubeTarget, ns: str) -> dict[str, str]:
    secret = get_json(cluster, "secret", "shop-redis", "-n", ns)
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def _restarted_at(cluster: KubeTarget, ns: str, deployment: str) -> str | None:
    obj = get_json(cluster, "deployment", deployment, "-n", ns)
    return (obj["spec"]["template"]["metadata"].get("annotations") or {}).get("webstack.dev/restarted-at")


def test_the_cache_password_is_kept_recreated_with_restarts_when_lost_and_rotated_only_on_request(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", MINIMAL)
    wait_phase(platform, namespace, "shop")
    first = _cache_secret(platform, namespace)
    assert len(first["password"]) >= 32 and first["redis.conf"] == f"requirepass {first['password']}\n"
    assert first["password"] != _password(platform, namespace, "shop")  # its own, not the database's
    database_password = _password(platform, namespace, "shop")
    assert _restarted_at(platform, namespace, "shop-redis") is None

    # A spec change reconciles everything again: the password stays.
    apply_webstack(platform, namespace, "shop", {**MINIMAL, "cache": {"ttlSeconds": 60}})
    wait_phase(platform, namespace, "shop")
    assert _cache_secret(platform, namespace) == first

    # Lost: a new password (a cache guards no data), and Redis and the backend restart to agree on it.
    platform.kubectl("delete", "secret", "shop-redis", "-n", namespace)
    second = eventually(
        lambda: (
            _cache_secret(platform, namespace)
            if _exists(platform, "secret", "shop-redis", "-n", namespace)
            else None
        ),
        timeout=60,
        what="the cache Secret recreated",
    )
    assert second["password"] != first["password"]
    eventually(
        lambda: (
            _restarted_at(platform, namespace, "shop-redis"),
            _restarted_at(platform, namespace, "shop-backend"),
        ),
        until=lambda both: all(both),
        timeout=60,
        what="Redis and the backend restarted for the new password",
    )
    assert _password(platform, namespace, "shop") == database_password

    # The one-shot action rotates both generated passwords: the cache's at once, the database's by a
    # rotation with no failed request (test_credentials_rotation.py).
    platform.kubectl("annotate", "webstack", "shop", "-n", namespace, "webstack.dev/regenerate-credentials=2")
    eventually(
        lambda: _ws(platform, namespace, "shop"),
        until=lambda w: "webstack.dev/regenerate-credentials" not in (w["metadata"].get("annotations") or {}),
        timeout=60,
        what="the one-shot action consumed",
    )
    assert _cache_secret(platform, namespace)["password"] != second["password"]
    eventually(
        lambda: _password(platform, namespace, "shop"),
        until=lambda password: password != database_password,
        timeout=60,
        what="the database's credentials rotated",
    )
    regenerated = [e for e in events(platform, namespace, "shop") if e["reason"] == "CredentialsRegenerated"]
    assert {"shop-redis"} <= {e["message"].split(":")[0].split()[-1] for e in regenerated}
    assert [e for e in events(platform, namespace, "shop") if e["reason"] == "CredentialsRotationStarted"]


def _users_service(ns: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "shop-backend", "namespace": ns, "labels": {"team": "mine"}},
        "spec": {"selector": {"app": "mine"}, "ports": [{"port": 9999, "targetPort": 9999}]},
    }


def test_an_object_holding_a_childs_name_is_left_alone_until_handed_over(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    platform.apply(_users_service(namespace))
    platform.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "shop-postgres", "namespace": namespace},
            "stringData": {"username": "webstack", "password": "the-users-own", "database": "webstack"},
        }
    )
    apply_webstack(platform, namespace, "shop", MINIMAL)
    ws = eventually(
        lambda: _ws(platform, namespace, "shop"),
        until=lambda w: condition(w, "Reconciled")["reason"] == "NameConflict",
        timeout=60,
        what="Reconciled=False NameConflict",
    )
    message = condition(ws, "Reconciled")["message"]
    assert "Service " + namespace + "/shop-backend" in message
    assert "Secret " + namespace + "/shop-postgres" in message
    time.sleep(QUIET_SECONDS)
    service = get_json(platform, "service", "shop-backend", "-n", namespace)
    assert "ownerReferences" not in service["metadata"]
    assert service["metadata"]["labels"] == {"team": "mine"}
    assert service["spec"]["ports"][0]["port"] == 9999
    assert _password(platform, namespace, "shop") == "the-users-own"
    conflicts = _warnings(platform, namespace, "shop", "NameConflict")
    assert len(conflicts) == 2, [e["message"] for e in conflicts]  # one per object, not one per reconcile
    created = {e["message"] for e in events(platform, namespace, "shop") if e["reason"] == "Created"}
    assert not created & {"Service shop-backend", "Secret shop-postgres"}, created

    # Handing both over with the annotation: the Secret is adopted with its content; the Service's own
    # port (no name) cannot merge with the stack's: refused, with the apiserver's reason.
    for kind, name in (("service", "shop-backend"), ("secret", "shop-postgres")):
        platform.kubectl("annotate", kind, name, "-n", namespace, "webstack.dev/adopt=true")
    ws = eventually(
        lambda: _ws(platform, namespace, "shop"),
        until=lambda w: condition(w, "Reconciled")["reason"] == "AdoptionRefused",
        timeout=60,
        what="Reconciled=False AdoptionRefused",
    )
    assert "shop-backend" in condition(ws, "Reconciled")["message"]
    eventually(
        lambda: get_json(platform, "secret", "shop-postgres", "-n", namespace),
        until=lambda secret: (
            bool(_our_refs(secret, ws)) is False
            and secret["metadata"]["labels"].get("app.kubernetes.io/managed-by") == "webstack-operator"
        ),
        timeout=60,
        what="the Secret adopted (labelled; Retain: no owner reference)",
    )
    assert _password(platform, namespace, "shop") == "the-users-own"

    # The user makes their Service compatible (the stack's selector and port): adopted, Ready.
    compatible = _users_service(namespace)
    compatible["metadata"]["annotations"] = {"webstack.dev/adopt": "true"}
    compatible["spec"] = {
        "selector": {
            "app.kubernetes.io/part-of": "webstack",
            "app.kubernetes.io/instance": "shop",
            "app.kubernetes.io/component": "backend",
        },
        "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}],
    }
    platform.apply(compatible)
    ws = wait_phase(platform, namespace, "shop", timeout=120)
    assert condition(ws, "Reconciled")["status"] == "True"
    service = get_json(platform, "service", "shop-backend", "-n", namespace)
    assert _our_refs(service, ws)
    assert service["spec"]["ports"][0]["targetPort"] == "http"  # the stack's field now
    assert service["metadata"]["labels"]["team"] == "mine"  # a field only the user set stays theirs
    assert _password(platform, namespace, "shop") == "the-users-own"
    adopted = {
        e["message"].split()[0] for e in events(platform, namespace, "shop") if e["reason"] == "Adopted"
    }
    assert adopted >= {"Service", "Secret"}, adopted


def test_a_stack_recreated_with_the_same_name_reports_no_drift(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    spec = {**MINIMAL, "database": {"deletionPolicy": "Delete"}}
    apply_webstack(platform, namespace, "shop", spec)
    wait_phase(platform, namespace, "shop")
    drift_before = sum(
        operator.metric("webstack_drift_corrections_total", kind=k)
        for k in ("Service", "Deployment", "StatefulSet", "ConfigMap", "ServiceAccount", "NetworkPolicy")
    )
    platform.kubectl("delete", "webstack", "shop", "-n", namespace, "--timeout=60s")
    apply_webstack(platform, namespace, "shop", spec)
    ws = wait_phase(platform, namespace, "shop", timeout=120)
    time.sleep(QUIET_SECONDS)
    uid = ws["metadata"]["uid"]
    mine = [e for e in events(platform, namespace, "shop") if e["involvedObject"].get("uid") == uid]
    assert mine, "the new stack posts Events"
    drift = [e["message"] for e in mine if e["reason"] == "DriftCorrected"]
    assert drift == [], drift
    drift_after = sum(
        operator.metric("webstack_drift_corrections_total", kind=k)
        for k in ("Service", "Deployment", "StatefulSet", "ConfigMap", "ServiceAccount", "NetworkPolicy")
    )
    assert drift_after == drift_before


def test_a_component_that_no_longer_exists_leaves_status_and_idle_reconciles_write_nothing(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    apply_webstack(platform, namespace, "shop", MINIMAL)
    ws = wait_phase(platform, namespace, "shop")
    assert "cache" in ws["status"]["components"]
    apply_webstack(
        platform,
        namespace,
        "shop",
        {**MINIMAL, "cache": {"mode": "External", "url": "redis://cache.example:6379/0"}},
    )
    ws = eventually(
        lambda: wait_phase(platform, namespace, "shop"),
        until=lambda w: "cache" not in w["status"]["components"],
        timeout=60,
        what="the cache component gone from status",
    )
    before = ws["metadata"]["resourceVersion"]
    # Reconciles triggered by child events (a label nobody owns, on the backend) and by discovery.
    for i in range(3):
        platform.kubectl("label", "deployment", "shop-backend", "-n", namespace, f"poke={i}", "--overwrite")
        time.sleep(1)
    time.sleep(QUIET_SECONDS)
    after = _ws(platform, namespace, "shop")
    assert after["metadata"]["resourceVersion"] == before, json.dumps(after.get("status"), indent=1)


def test_stacks_whose_namespace_and_name_join_alike_get_their_own_backup_schedule(
    platform: KubeTarget, operator: OperatorProcess
) -> None:
    suffix = uuid.uuid4().hex[:5]
    first_ns, second_ns = f"bk{suffix}-x", f"bk{suffix}"  # `bkNNNNN-x/web` and `bkNNNNN/x-web`
    for ns in (first_ns, second_ns):
        platform.kubectl("create", "namespace", ns)
    try:
        backup = {"backup": {"enabled": True}}
        apply_webstack(platform, first_ns, "web", {**MINIMAL, **backup})
        apply_webstack(platform, second_ns, "x-web", {**MINIMAL, **backup})
        wait_phase(platform, first_ns, "web")
        wait_phase(platform, second_ns, "x-web")

        def schedules() -> dict[str, dict[str, Any]]:
            items = get_json(platform, "schedules.velero.io", "-n", "velero")["items"]
            return {
                i["metadata"]["labels"].get("webstack.dev/stack-namespace", ""): i
                for i in items
                if i["metadata"]["labels"].get("webstack.dev/stack-namespace") in (first_ns, second_ns)
            }

        found = eventually(schedules, until=lambda s: len(s) == 2, timeout=60, what="two Schedules")
        assert found[first_ns]["metadata"]["name"] != found[second_ns]["metadata"]["name"]
        # A Schedule labelled like the first stack but made for another WebStack (another UID) is not its.
        impostor = json.loads(json.dumps(found[first_ns]))
        impostor["metadata"] = {
            "name": f"impostor-{suffix}",
            "namespace": "velero",
            "labels": {**found[first_ns]["metadata"]["labels"], "webstack.dev/stack-uid": "someone-else"},
        }
        platform.apply(impostor)
        platform.kubectl("delete", "webstack", "web", "-n", first_ns, "--timeout=60s")
        eventually(
            schedules,
            until=lambda s: (
                first_ns not in s or s[first_ns]["metadata"]["name"] == impostor["metadata"]["name"]
            ),
            timeout=60,
            what="the first stack's Schedule deleted",
        )
        assert _exists(platform, "schedules.velero.io", impostor["metadata"]["name"], "-n", "velero")
        assert _exists(platform, "schedules.velero.io", found[second_ns]["metadata"]["name"], "-n", "velero")
        platform.kubectl("delete", "schedules.velero.io", impostor["metadata"]["name"], "-n", "velero")
    finally:
        for ns in (first_ns, second_ns):
            platform.kubectl("delete", "webstack", "--all", "-n", ns, "--timeout=60s", check=False)
            platform.kubectl("delete", "namespace", ns, "--wait=false", check=False)


def test_a_credentials_source_whose_api_is_missing_is_named_and_the_stack_recovers(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    crd = "sealedsecrets.bitnami.com"
    saved = get_json(platform, "crd", crd)
    platform.kubectl("delete", "crd", crd, "--timeout=60s")
    try:
        data = {"username": "AgA", "password": "AgB", "database": "AgC"}
        apply_webstack(
            platform,
            namespace,
            "shop",
            {**MINIMAL, "database": {"credentials": {"sealedSecret": {"encryptedData": data}}}},
        )
        ws = eventually(
            lambda: _ws(platform, namespace, "shop"),
            until=lambda w: condition(w, "Reconciled")["reason"] == "SealedSecretsNotInstalled",
            timeout=90,
            what="Reconciled=False SealedSecretsNotInstalled",
        )
        assert "bitnami.com/v1alpha1 SealedSecret" in condition(ws, "Reconciled")["message"]
        time.sleep(QUIET_SECONDS)
        assert len(_warnings(platform, namespace, "shop", "SealedSecretsNotInstalled")) == 1
    finally:
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            saved["metadata"].pop(key, None)
        saved.pop("status", None)
        platform.apply(saved)
        platform.wait_established([crd])
    eventually(
        lambda: _exists(platform, "sealedsecrets.bitnami.com", "shop-postgres", "-n", namespace),
        until=bool,
        timeout=90,
        what="the SealedSecret rendered once the API is served",
    )
    ws = eventually(
        lambda: _ws(platform, namespace, "shop"),
        until=lambda w: condition(w, "Reconciled")["status"] == "True",
        timeout=60,
        what="Reconciled again",
    )

"""Upgrading the operator to the release with the Postgres client Service, on a real control plane.

An existing Managed stack, as the release before (66e0811) left it — no `<stack>-postgres-rw`, PGHOST on the
headless `<stack>-postgres`, its migration Job done — is reconciled by this operator: it gains the client
Service, re-runs its migration Job under the new name and rolls its backend onto the new PGHOST, while the
StatefulSet and its headless governing Service are not written at all (same resourceVersion and uid: the
database is not restarted). The previous release's objects come from tests/support/previous_release.py
(checked against 66e0811's render by a unit test), applied as that operator did: server-side, its field
manager, its desired-hash stamp, owned by the WebStack.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, get_json, wait_phase, webstack_doc
from tests.support.previous_release import previous_release_objects

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from webstack_operator.api.spec import parse_spec
from webstack_operator.builders.context import OwnerRef, StackContext
from webstack_operator.config.run_options import load_settings
from webstack_operator.objects.stamps import FIELD_MANAGER, stamped

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
SPEC: dict[str, Any] = {"backend": {"image": IMAGE}}
# The previous release's objects the upgrade must look at; the rest (CRD kinds among them) it creates as new.
PRE_EXISTING = {"ServiceAccount", "Secret", "Service", "StatefulSet", "Job", "Deployment"}


def _previous_release(cluster: KubeTarget, ns: str) -> list[dict[str, Any]]:
    """Creates the stack paused (the operator writes nothing for it), then what 66e0811 had applied."""
    apply_webstack(cluster, ns, "shop", {**SPEC, "paused": True})
    ws = get_json(cluster, "webstack", "shop", "-n", ns)
    ctx = StackContext(
        spec=parse_spec(webstack_doc(ns, SPEC)),
        name="shop",
        namespace=ns,
        settings=load_settings(os.environ),
        owner=OwnerRef(api_version=ws["apiVersion"], kind="WebStack", name="shop", uid=ws["metadata"]["uid"]),
        generated_password="upgrade-password-0123456789abcdef",
        generated_cache_password="upgrade-cache-password-0123456789",
    )
    previous = [stamped(o)[0] for o in previous_release_objects(ctx) if o["kind"] in PRE_EXISTING]
    cluster.kubectl(
        "apply", "--server-side", f"--field-manager={FIELD_MANAGER}", "--force-conflicts", "-f", "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": previous}),
    )  # fmt: skip
    return previous


def _pghost(obj: dict[str, Any]) -> str:
    container = obj["spec"]["template"]["spec"]["containers"][0]
    return next(str(e["value"]) for e in container["env"] if e["name"] == "PGHOST")


def _meta(cluster: KubeTarget, ns: str, kind: str, name: str) -> tuple[str, str]:
    meta = get_json(cluster, kind, name, "-n", ns)["metadata"]
    return meta["uid"], meta["resourceVersion"]


def test_an_existing_stack_moves_to_the_client_service_without_touching_postgres(
    platform: KubeTarget, operator: OperatorProcess, namespace: str
) -> None:
    previous = _previous_release(platform, namespace)
    [old_job] = [o["metadata"]["name"] for o in previous if o["kind"] == "Job"]
    eventually(
        lambda: get_json(platform, "job", old_job, "-n", namespace),
        until=lambda job: any(
            c["type"] == "Complete" and c["status"] == "True"
            for c in (job.get("status") or {}).get("conditions", [])
        ),
        timeout=60,
        what="the previous release's migration Job completed",
    )
    backend = get_json(platform, "deployment", "shop-backend", "-n", namespace)
    assert _pghost(backend) == "shop-postgres"
    database = {
        kind: _meta(platform, namespace, kind, "shop-postgres") for kind in ("service", "statefulset")
    }

    apply_webstack(platform, namespace, "shop", SPEC)  # unpaused: the new operator's first reconcile
    wait_phase(platform, namespace, "shop", timeout=120)

    client = get_json(platform, "service", "shop-postgres-rw", "-n", namespace)
    assert client["spec"]["type"] == "ClusterIP" and client["spec"]["clusterIP"] not in ("", "None")
    headless = get_json(platform, "service", "shop-postgres", "-n", namespace)
    assert client["spec"]["selector"] == headless["spec"]["selector"]
    assert headless["spec"]["clusterIP"] == "None"
    backend = eventually(
        lambda: get_json(platform, "deployment", "shop-backend", "-n", namespace),
        until=lambda d: _pghost(d) == "shop-postgres-rw",
        timeout=60,
        what="the backend rolled onto the client Service",
    )
    jobs = get_json(platform, "jobs", "-n", namespace)["items"]
    new_jobs = [j for j in jobs if j["metadata"]["name"] != old_job]
    assert [_pghost(j) for j in new_jobs] == ["shop-postgres-rw"], [j["metadata"]["name"] for j in jobs]
    # The database and its governing Service were not written: same object, same version.
    for kind, before in database.items():
        assert _meta(platform, namespace, kind, "shop-postgres") == before, kind
    eventually(
        lambda: platform.kubectl("get", "job", old_job, "-n", namespace, check=False),
        until=lambda r: r.returncode != 0,
        timeout=60,
        what="the previous release's migration Job pruned",
    )

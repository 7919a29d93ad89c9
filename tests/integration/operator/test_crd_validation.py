"""Every rule of the WebStack CRD, enforced by a real kube-apiserver: a bad object is rejected with the
message a user needs (field path + what is allowed). Server-side dry-run, so nothing is stored."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.support.operator import dry_run_apply, scratch_namespace, webstack_doc

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from webstack_operator.api.backend_types import (
    AUTOSCALING_MAX_BELOW_MIN,
    ENV_RESERVED,
    ENV_SOURCE_ONE_OF,
    ENV_VALUE_OR_SOURCE,
)
from webstack_operator.api.backup_types import DRILL_NEEDS_DUMP, DUMP_NEEDS_BACKUP
from webstack_operator.api.cache_types import (
    CACHE_ADDRESS_ONLY_EXTERNAL,
    CACHE_PORT_FROM_URL,
    CACHE_SOURCE_ONLY_EXTERNAL,
    EXTERNAL_CACHE_ONE_SOURCE,
)
from webstack_operator.api.compute_resources import (
    RESOURCES_CPU_LIMIT_BELOW_REQUEST,
    RESOURCES_LIMIT_BELOW_REQUEST,
)
from webstack_operator.api.credentials_types import CREDENTIALS_ONE_SOURCE, ROTATION_NEEDS_GENERATED
from webstack_operator.api.database_types import (
    DATABASE_ADDRESS_ONLY_EXTERNAL,
    EXTERNAL_DATABASE_NEEDS_CREDENTIALS,
    SEALED_KEYS_EXTERNAL,
    SEALED_KEYS_MANAGED,
    STORAGE_CLASS_IMMUTABLE,
    STORAGE_SIZE_IMMUTABLE,
)
from webstack_operator.api.delivery_types import CANARY_NEEDS_STEPS, CANARY_STEP_ONE_OF, STEPS_ONLY_FOR_CANARY
from webstack_operator.api.field_types import CIDR_MESSAGE, IMAGE_NOT_LATEST, LABEL_KEY_MESSAGE
from webstack_operator.api.ingress_types import INGRESS_NEEDS_HOST
from webstack_operator.api.monitoring_types import ALERT_FOR_UNKNOWN_KEY
from webstack_operator.api.spec import ANALYSIS_NEEDS_MONITORING, NAME_MESSAGE, WebStackSpec

pytestmark = pytest.mark.cluster

ROOT = Path(__file__).resolve().parents[3]
IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
CANARY_STEPS = [{"setWeight": 20}]


@pytest.fixture(scope="module")
def crd_cluster(cluster: KubeTarget) -> KubeTarget:
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(ROOT / "crds"))
    cluster.wait_established(["webstacks.webstack.dev"])
    return cluster


@pytest.fixture(scope="module")
def namespace(crd_cluster: KubeTarget) -> Iterator[str]:
    with scratch_namespace(crd_cluster, "crd") as name:
        yield name


def _spec(**sections: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"backend": {"image": IMAGE}}
    for key, value in sections.items():
        spec[key] = {**spec.get(key, {}), **value} if isinstance(value, dict) else value
    return spec


CEL_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    (
        "external-db-needs-credentials",
        _spec(database={"mode": "External"}),
        "spec.database.credentials",
        EXTERNAL_DATABASE_NEEDS_CREDENTIALS,
    ),
    (
        "canary-needs-steps",
        _spec(backend={"image": IMAGE, "delivery": {"strategy": "Canary"}}),
        "spec.backend.delivery.steps",
        CANARY_NEEDS_STEPS,
    ),
    (
        "steps-only-for-canary",
        _spec(backend={"image": IMAGE, "delivery": {"steps": CANARY_STEPS}}),
        "spec.backend.delivery",
        STEPS_ONLY_FOR_CANARY,
    ),
    (
        "step-one-action",
        _spec(
            backend={
                "image": IMAGE,
                "delivery": {"strategy": "Canary", "steps": [{"setWeight": 5, "pause": {}}]},
            }
        ),
        "spec.backend.delivery.steps[0]",
        CANARY_STEP_ONE_OF,
    ),
    (
        "autoscaling-bounds",
        _spec(backend={"image": IMAGE, "autoscaling": {"minReplicas": 5, "maxReplicas": 2}}),
        "spec.backend.autoscaling.maxReplicas",
        AUTOSCALING_MAX_BELOW_MIN,
    ),
    (
        "reserved-env",
        _spec(backend={"image": IMAGE, "env": [{"name": "DATABASE_URL", "value": "x"}]}),
        "spec.backend.env",
        ENV_RESERVED,
    ),
    (
        "env-value-or-source",
        _spec(
            backend={
                "image": IMAGE,
                "env": [
                    {"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                ],
            }
        ),
        "spec.backend.env[0]",
        ENV_VALUE_OR_SOURCE,
    ),
    (
        "env-source-one-of",
        _spec(
            backend={
                "image": IMAGE,
                "env": [
                    {
                        "name": "A",
                        "valueFrom": {
                            "secretKeyRef": {"name": "s", "key": "k"},
                            "configMapKeyRef": {"name": "c", "key": "k"},
                        },
                    }
                ],
            }
        ),
        "spec.backend.env[0].valueFrom",
        ENV_SOURCE_ONE_OF,
    ),
    (
        "image-not-latest",
        _spec(backend={"image": "ghcr.io/webstack-dev/users-api:latest"}),
        "spec.backend.image",
        IMAGE_NOT_LATEST,
    ),
    (
        "memory-limit-below-request",
        _spec(
            backend={
                "image": IMAGE,
                "resources": {"requests": {"cpu": "100m", "memory": "1Gi"}, "limits": {"memory": "512Mi"}},
            }
        ),
        "spec.backend.resources.limits.memory",
        RESOURCES_LIMIT_BELOW_REQUEST,
    ),
    (
        "cpu-limit-below-request",
        _spec(
            backend={
                "image": IMAGE,
                "resources": {
                    "requests": {"cpu": 2, "memory": "1Gi"},
                    "limits": {"cpu": "1500m", "memory": "1Gi"},
                },
            }
        ),
        "spec.backend.resources.limits.cpu",
        RESOURCES_CPU_LIMIT_BELOW_REQUEST,
    ),
    (
        "one-credentials-source",
        _spec(
            database={
                "credentials": {"secretRef": {"name": "a"}, "sealedSecret": {"encryptedData": {"uri": "Ag"}}}
            }
        ),
        "spec.database.credentials",
        CREDENTIALS_ONE_SOURCE,
    ),
    (
        "rotation-needs-generated",
        _spec(database={"credentials": {"secretRef": {"name": "a"}, "rotationPeriod": "30d"}}),
        "spec.database.credentials",
        ROTATION_NEEDS_GENERATED,
    ),
    (
        "sealed-keys-managed",
        _spec(database={"credentials": {"sealedSecret": {"encryptedData": {"password": "Ag"}}}}),
        "spec.database.credentials.sealedSecret.encryptedData",
        SEALED_KEYS_MANAGED,
    ),
    (
        "sealed-keys-external",
        _spec(
            database={
                "mode": "External",
                "credentials": {"sealedSecret": {"encryptedData": {"password": "Ag"}}},
            }
        ),
        "spec.database.credentials.sealedSecret.encryptedData",
        SEALED_KEYS_EXTERNAL,
    ),
    ("external-cache-source", _spec(cache={"mode": "External"}), "spec.cache", EXTERNAL_CACHE_ONE_SOURCE),
    (
        "cache-source-only-external",
        _spec(cache={"secretRef": {"name": "r"}}),
        "spec.cache",
        CACHE_SOURCE_ONLY_EXTERNAL,
    ),
    (
        "cache-password-only-external",
        _spec(cache={"passwordSecretRef": {"name": "r", "key": "password"}}),
        "spec.cache",
        CACHE_SOURCE_ONLY_EXTERNAL,
    ),
    ("ingress-needs-host", _spec(ingress={"enabled": True}), "spec.ingress.host", INGRESS_NEEDS_HOST),
    (
        "cidr-host-bits",
        _spec(ingress={"sourceCidrs": ["10.0.0.0/16", "10.0.0.1/16"]}),
        "spec.ingress.sourceCidrs[1]",
        CIDR_MESSAGE,
    ),
    (
        "cidr-no-prefix",
        _spec(ingress={"sourceCidrs": ["10.0.0.0"]}),
        "spec.ingress.sourceCidrs[0]",
        CIDR_MESSAGE,
    ),
    (
        "cidr-ipv6-host-bits",
        _spec(
            database={
                "mode": "External",
                "credentials": {"secretRef": {"name": "rds"}},
                "cidrs": ["2600:1f18::1/56"],
            }
        ),
        "spec.database.cidrs[0]",
        CIDR_MESSAGE,
    ),
    (
        "database-address-only-external",
        _spec(database={"port": 6432}),
        "spec.database",
        DATABASE_ADDRESS_ONLY_EXTERNAL,
    ),
    (
        "cache-address-only-external",
        _spec(cache={"cidrs": ["10.0.0.0/8"]}),
        "spec.cache",
        CACHE_ADDRESS_ONLY_EXTERNAL,
    ),
    (
        "cache-port-from-url",
        _spec(cache={"mode": "External", "url": "redis://cache.example.com:6379/0", "port": 6380}),
        "spec.cache.port",
        CACHE_PORT_FROM_URL,
    ),
    (
        "dns-label-key",
        _spec(security={"dns": {"podLabels": {"k8s app": "kube-dns"}}}),
        "spec.security.dns.podLabels",
        LABEL_KEY_MESSAGE,
    ),
    (
        "analysis-needs-monitoring",
        _spec(
            backend={
                "image": IMAGE,
                "delivery": {
                    "strategy": "Canary",
                    "steps": CANARY_STEPS,
                    "analysis": {"prometheusAddress": "http://p:9090"},
                },
            },
            monitoring={"enabled": False},
        ),
        "spec.monitoring.enabled",
        ANALYSIS_NEEDS_MONITORING,
    ),
    (
        "alert-for-names-alerts",
        _spec(monitoring={"alertFor": {"default": "30s", "WebStackHighErrors": "1m"}}),
        "spec.monitoring.alertFor",
        ALERT_FOR_UNKNOWN_KEY,
    ),
    (
        "drill-needs-dump",
        _spec(backup={"enabled": True, "drill": {"enabled": True}}),
        "spec.backup.drill.enabled",
        DRILL_NEEDS_DUMP,
    ),
    (
        "dump-needs-backup",
        _spec(backup={"enabled": False, "dump": {"claimName": "dumps"}}),
        "spec.backup",
        DUMP_NEEDS_BACKUP,
    ),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in CEL_CASES], ids=[c[0] for c in CEL_CASES]
)
def test_cel_rule_rejects(
    crd_cluster: KubeTarget, namespace: str, spec: dict[str, Any], path: str, message: str
) -> None:
    code, err = dry_run_apply(crd_cluster, webstack_doc(namespace, spec))
    assert code != 0, "the apiserver accepted a bad WebStack"
    assert message in err, err
    assert path in err, err
    # The offline validator says the same thing.
    with pytest.raises(ValueError, match=re.escape(message)):
        WebStackSpec.model_validate(spec)


SCHEMA_CASES: list[tuple[str, dict[str, Any], str, str]] = [
    ("image-pattern", _spec(backend={"image": "Not An Image"}), "spec.backend.image", "should match"),
    (
        "image-needs-tag",
        _spec(backend={"image": "ghcr.io/webstack-dev/users-api"}),
        "spec.backend.image",
        "should match",
    ),
    (
        "replicas-minimum",
        _spec(backend={"image": IMAGE, "replicas": 0}),
        "spec.backend.replicas",
        "should be greater than or equal to 1",
    ),
    (
        "replicas-maximum",
        _spec(backend={"image": IMAGE, "replicas": 101}),
        "spec.backend.replicas",
        "should be less than or equal to 100",
    ),
    (
        "strategy-enum",
        _spec(backend={"image": IMAGE, "delivery": {"strategy": "BlueGreen"}}),
        "spec.backend.delivery.strategy",
        'supported values: "RollingUpdate", "Canary"',
    ),
    (
        "pause-duration",
        _spec(
            backend={
                "image": IMAGE,
                "delivery": {"strategy": "Canary", "steps": [{"pause": {"duration": "2 minutes"}}]},
            }
        ),
        "spec.backend.delivery.steps[0].pause.duration",
        "should match",
    ),
    (
        "iam-role-arn",
        _spec(backend={"image": IMAGE, "iamRoleArn": "arn:aws:iam::1234:role/x"}),
        "spec.backend.iamRoleArn",
        "should match",
    ),
    (
        "certificate-arn",
        _spec(ingress={"certificateArn": "arn:aws:acm:eu-west-1:1:cert/x"}),
        "spec.ingress.certificateArn",
        "should match",
    ),
    (
        "quantity",
        _spec(database={"storage": {"size": "ten gigs"}}),
        "spec.database.storage.size",
        "should match",
    ),
    ("cron", _spec(backup={"schedule": "every night"}), "spec.backup.schedule", "should match"),
    ("go-duration", _spec(backup={"ttl": "30 days"}), "spec.backup.ttl", "should match"),
    (
        "rotation-period",
        _spec(database={"credentials": {"rotationPeriod": "30m"}}),
        "spec.database.credentials.rotationPeriod",
        "should match",
    ),
    ("redis-memory", _spec(cache={"maxMemory": "256MiB"}), "spec.cache.maxMemory", "should match"),
    (
        "ttl-range",
        _spec(cache={"ttlSeconds": 0}),
        "spec.cache.ttlSeconds",
        "should be greater than or equal to 1",
    ),
    ("host", _spec(ingress={"enabled": True, "host": "Shop_Example"}), "spec.ingress.host", "should match"),
    (
        "deletion-policy",
        _spec(database={"deletionPolicy": "Orphan"}),
        "spec.database.deletionPolicy",
        'supported values: "Retain", "Delete"',
    ),
    (
        "success-rate-range",
        _spec(
            backend={
                "image": IMAGE,
                "delivery": {
                    "strategy": "Canary",
                    "steps": CANARY_STEPS,
                    "analysis": {"prometheusAddress": "http://p:9090", "minSuccessRate": 1.5},
                },
            }
        ),
        "spec.backend.delivery.analysis.minSuccessRate",
        "should be less than or equal to 1",
    ),
    (
        "p95-positive",
        _spec(
            backend={
                "image": IMAGE,
                "delivery": {
                    "strategy": "Canary",
                    "steps": CANARY_STEPS,
                    "analysis": {"prometheusAddress": "http://p:9090", "maxP95LatencySeconds": 0},
                },
            }
        ),
        "spec.backend.delivery.analysis.maxP95LatencySeconds",
        "should be greater than 0",
    ),
    (
        "env-unique",
        _spec(backend={"image": IMAGE, "env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}),
        # Server-side apply (kubectl, Argo CD) merges list-map entries by key, so it says it this way.
        "spec.backend.env",
        'duplicate entries for key [name="A"]',
    ),
    (
        "env-max-items",
        _spec(backend={"image": IMAGE, "env": [{"name": f"V{i}", "value": "x"} for i in range(65)]}),
        "spec.backend.env",
        "must have at most 64 items",
    ),
    (
        "alert-for-duration",
        _spec(monitoring={"alertFor": {"default": "5 minutes"}}),
        "spec.monitoring.alertFor.default",
        "should match",
    ),
    (
        "p95-alert-below-the-largest-bucket",
        _spec(monitoring={"thresholds": {"p95LatencySeconds": 10}}),
        "spec.monitoring.thresholds.p95LatencySeconds",
        "should be less than 10",
    ),
    ("backend-required", {"frontend": {"replicas": 1}}, "spec.backend", "Required value"),
    ("unknown-field", _spec(surprise=True), ".spec.surprise", "field not declared in schema"),
]


@pytest.mark.parametrize(
    ("spec", "path", "message"), [c[1:] for c in SCHEMA_CASES], ids=[c[0] for c in SCHEMA_CASES]
)
def test_schema_rejects(
    crd_cluster: KubeTarget, namespace: str, spec: dict[str, Any], path: str, message: str
) -> None:
    code, err = dry_run_apply(crd_cluster, webstack_doc(namespace, spec))
    assert code != 0, "the apiserver accepted a bad WebStack"
    assert path in err and message in err, err


@pytest.mark.parametrize("name", ["a" * 41, "shop.v2", "9shop"])
def test_name_rule_rejects(crd_cluster: KubeTarget, namespace: str, name: str) -> None:
    code, err = dry_run_apply(crd_cluster, webstack_doc(namespace, _spec(), name=name))
    assert code != 0
    assert NAME_MESSAGE in err, err


def test_valid_sample_is_accepted_and_defaulted_like_the_models(
    crd_cluster: KubeTarget, namespace: str
) -> None:
    spec = _spec()
    result = crd_cluster.kubectl(
        "create", "--dry-run=server", "-o", "json", "-f", "-", input=json.dumps(webstack_doc(namespace, spec))
    )
    stored = json.loads(result.stdout)["spec"]
    assert stored == WebStackSpec.model_validate(spec).model_dump(
        mode="json", by_alias=True, exclude_none=True
    )


def test_storage_is_immutable(crd_cluster: KubeTarget, namespace: str) -> None:
    original = webstack_doc(
        namespace,
        _spec(paused=True, database={"storage": {"size": "10Gi", "storageClassName": "gp3"}}),
        name="immutable",
    )
    crd_cluster.kubectl(
        "apply", "--server-side", "--field-manager=test", "-f", "-", input=json.dumps(original)
    )
    try:
        other_class = copy.deepcopy(original)
        other_class["spec"]["database"]["storage"]["storageClassName"] = "gp2"
        code, err = dry_run_apply(crd_cluster, other_class)
        assert code != 0 and STORAGE_CLASS_IMMUTABLE in err, err
        assert "spec.database.storage.storageClassName" in err, err
        no_class = copy.deepcopy(original)
        del no_class["spec"]["database"]["storage"]["storageClassName"]
        code, err = dry_run_apply(crd_cluster, no_class)
        assert code != 0 and STORAGE_CLASS_IMMUTABLE in err, err
        bigger = copy.deepcopy(original)
        bigger["spec"]["database"]["storage"]["size"] = "20Gi"
        code, err = dry_run_apply(crd_cluster, bigger)
        assert code != 0 and STORAGE_SIZE_IMMUTABLE in err, err
        same = copy.deepcopy(original)
        same["spec"]["backend"]["replicas"] = 3
        code, err = dry_run_apply(crd_cluster, same)
        assert code == 0, err
    finally:
        crd_cluster.kubectl("delete", "webstack", "immutable", "-n", namespace, "--wait=false", check=False)


def test_explain_and_printer_columns(crd_cluster: KubeTarget, namespace: str) -> None:
    # The apiserver publishes a new CRD's schema for `explain` a moment after it is Established.
    explain = eventually(
        lambda: crd_cluster.kubectl("explain", "webstack.spec.database", check=False).stdout,
        until=lambda text: "PostgreSQL" in text,
        timeout=30,
        what="kubectl explain to know the WebStack schema",
    )
    assert "PostgreSQL" in explain and "deletionPolicy" in explain and "Retain" in explain
    crd_cluster.kubectl(
        "apply",
        "--server-side",
        "--field-manager=test",
        "-f",
        "-",
        input=json.dumps(webstack_doc(namespace, _spec(paused=True), name="columns")),
    )
    header = crd_cluster.kubectl("get", "ws", "-n", namespace).stdout.splitlines()[0].split()
    # "BACKEND IMAGE" and "LAST BACKUP" are one column each; BLOCKER shows with -o wide.
    assert header == ["NAME", "PHASE", "READY", "REASON", "BACKEND", "IMAGE", "URL", "LAST", "BACKUP", "AGE"]
    wide = crd_cluster.kubectl("get", "ws", "-n", namespace, "-o", "wide").stdout.splitlines()[0].split()
    assert wide[-1] == "BLOCKER"
    crd_cluster.kubectl("delete", "webstack", "columns", "-n", namespace, "--wait=false", check=False)

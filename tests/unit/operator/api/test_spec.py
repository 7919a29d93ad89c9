"""The WebStack models: defaults, every cross-field rule (same message as its CEL twin), field paths."""

from __future__ import annotations

from typing import Any

import pytest

from webstack_operator.api.backend_types import (
    AUTOSCALING_MAX_BELOW_MIN,
    ENV_RESERVED,
    ENV_SOURCE_ONE_OF,
    ENV_VALUE_OR_SOURCE,
)
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
)
from webstack_operator.api.delivery_types import CANARY_NEEDS_STEPS, CANARY_STEP_ONE_OF, STEPS_ONLY_FOR_CANARY
from webstack_operator.api.field_types import CIDR_MESSAGE, IMAGE_NOT_LATEST, LABEL_KEY_MESSAGE
from webstack_operator.api.ingress_types import INGRESS_NEEDS_HOST
from webstack_operator.api.monitoring_types import ALERT_FOR_UNKNOWN_KEY
from webstack_operator.api.spec import (
    ANALYSIS_NEEDS_MONITORING,
    SpecError,
    WebStackSpec,
    parse_spec,
    validate_name,
)
from webstack_operator.api.status_types import WebStackStatus

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"


def _parse(**sections: Any) -> WebStackSpec:
    spec = {"backend": {"image": IMAGE}, **sections}
    return parse_spec({"metadata": {"name": "shop"}, "spec": spec})


def _problems(**sections: Any) -> list[tuple[str, str]]:
    with pytest.raises(SpecError) as info:
        _parse(**sections)
    return info.value.problems


def test_minimal_spec_gets_the_documented_defaults() -> None:
    spec = _parse()
    assert spec.backend.replicas == 2
    assert spec.backend.delivery.strategy == "RollingUpdate"
    assert spec.database.mode == "Managed" and spec.database.deletion_policy == "Retain"
    assert spec.database.version == "16" and spec.database.storage.size == "10Gi"
    assert spec.database.credentials.generated
    assert spec.cache.mode == "Managed" and spec.cache.max_memory == "256mb" and spec.cache.ttl_seconds == 30
    assert not spec.ingress.enabled and spec.monitoring.enabled and not spec.backup.enabled
    assert spec.security.network_policies and spec.security.pod_disruption_budgets
    assert spec.backup.ttl == "720h0m0s" and spec.backup.schedule == "0 3 * * *"


def test_camel_case_on_the_wire() -> None:
    spec = _parse(backend={"image": IMAGE, "autoscaling": {"targetCPUUtilizationPercentage": 55}})
    assert spec.backend.autoscaling is not None
    assert spec.backend.autoscaling.target_cpu_utilization_percentage == 55
    dumped = spec.model_dump(by_alias=True, exclude_none=True)
    assert dumped["backend"]["autoscaling"]["targetCPUUtilizationPercentage"] == 55
    assert "deletionPolicy" in dumped["database"]


@pytest.mark.parametrize(
    ("sections", "path", "message"),
    [
        ({"database": {"mode": "External"}}, "spec.database", EXTERNAL_DATABASE_NEEDS_CREDENTIALS),
        (
            {"backend": {"image": IMAGE, "delivery": {"strategy": "Canary"}}},
            "spec.backend.delivery",
            CANARY_NEEDS_STEPS,
        ),
        (
            {"backend": {"image": IMAGE, "delivery": {"steps": [{"setWeight": 5}]}}},
            "spec.backend.delivery",
            STEPS_ONLY_FOR_CANARY,
        ),
        (
            {
                "backend": {
                    "image": IMAGE,
                    "delivery": {"strategy": "Canary", "steps": [{"setWeight": 5, "pause": {}}]},
                }
            },
            "spec.backend.delivery.steps[0]",
            CANARY_STEP_ONE_OF,
        ),
        (
            {"backend": {"image": IMAGE, "autoscaling": {"minReplicas": 5, "maxReplicas": 2}}},
            "spec.backend.autoscaling",
            AUTOSCALING_MAX_BELOW_MIN,
        ),
        (
            {"backend": {"image": IMAGE, "env": [{"name": "PGHOST", "value": "x"}]}},
            "spec.backend",
            ENV_RESERVED,
        ),
        (
            {
                "backend": {
                    "image": IMAGE,
                    "env": [
                        {"name": "A", "value": "x", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}
                    ],
                }
            },
            "spec.backend.env[0]",
            ENV_VALUE_OR_SOURCE,
        ),
        (
            {"backend": {"image": IMAGE, "env": [{"name": "A", "valueFrom": {}}]}},
            "spec.backend.env[0].valueFrom",
            ENV_SOURCE_ONE_OF,
        ),
        ({"backend": {"image": "api:latest"}}, "spec.backend.image", IMAGE_NOT_LATEST),
        (
            {
                "backend": {
                    "image": IMAGE,
                    "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": {"memory": "512Mi"}},
                }
            },
            "spec.backend.resources",
            RESOURCES_LIMIT_BELOW_REQUEST,
        ),
        (
            {
                "backend": {
                    "image": IMAGE,
                    "resources": {
                        "requests": {"cpu": "2", "memory": "1Gi"},
                        "limits": {"cpu": "1500m", "memory": "1Gi"},
                    },
                }
            },
            "spec.backend.resources",
            RESOURCES_CPU_LIMIT_BELOW_REQUEST,
        ),
        (
            {
                "database": {
                    "credentials": {
                        "secretRef": {"name": "a"},
                        "externalSecret": {"storeRef": {"name": "s"}, "remoteKey": "k"},
                    }
                }
            },
            "spec.database.credentials",
            CREDENTIALS_ONE_SOURCE,
        ),
        (
            {"database": {"credentials": {"secretRef": {"name": "a"}, "rotationPeriod": "30d"}}},
            "spec.database.credentials",
            ROTATION_NEEDS_GENERATED,
        ),
        (
            {"database": {"credentials": {"sealedSecret": {"encryptedData": {"password": "Ag"}}}}},
            "spec.database",
            SEALED_KEYS_MANAGED,
        ),
        (
            {
                "database": {
                    "mode": "External",
                    "credentials": {"sealedSecret": {"encryptedData": {"password": "Ag"}}},
                }
            },
            "spec.database",
            SEALED_KEYS_EXTERNAL,
        ),
        ({"cache": {"mode": "External"}}, "spec.cache", EXTERNAL_CACHE_ONE_SOURCE),
        (
            {"cache": {"mode": "External", "url": "redis://a:6379", "secretRef": {"name": "r"}}},
            "spec.cache",
            EXTERNAL_CACHE_ONE_SOURCE,
        ),
        ({"cache": {"url": "redis://a:6379"}}, "spec.cache", CACHE_SOURCE_ONLY_EXTERNAL),
        (
            {"cache": {"passwordSecretRef": {"name": "r", "key": "password"}}},
            "spec.cache",
            CACHE_SOURCE_ONLY_EXTERNAL,
        ),
        ({"ingress": {"enabled": True}}, "spec.ingress", INGRESS_NEEDS_HOST),
        ({"database": {"port": 6432}}, "spec.database", DATABASE_ADDRESS_ONLY_EXTERNAL),
        ({"cache": {"cidrs": ["10.0.0.0/8"]}}, "spec.cache", CACHE_ADDRESS_ONLY_EXTERNAL),
        (
            {"cache": {"mode": "External", "url": "redis://a:6379", "port": 6380}},
            "spec.cache",
            CACHE_PORT_FROM_URL,
        ),
        (
            {
                "backend": {
                    "image": IMAGE,
                    "delivery": {
                        "strategy": "Canary",
                        "steps": [{"setWeight": 5}],
                        "analysis": {"prometheusAddress": "http://p:9090"},
                    },
                },
                "monitoring": {"enabled": False},
            },
            "spec",
            ANALYSIS_NEEDS_MONITORING,
        ),
    ],
)
def test_cross_field_rules(sections: dict[str, Any], path: str, message: str) -> None:
    assert (path, message) in _problems(**sections)


@pytest.mark.parametrize(
    ("sections", "path"),
    [
        ({"backend": {"image": "Not An Image"}}, "spec.backend.image"),
        ({"backend": {"image": "api"}}, "spec.backend.image"),  # no tag: not pinned
        ({"backend": {"image": IMAGE, "replicas": 0}}, "spec.backend.replicas"),
        ({"backend": {"image": IMAGE, "iamRoleArn": "arn:aws:iam::12:role/x"}}, "spec.backend.iamRoleArn"),
        ({"backend": {"image": IMAGE, "delivery": {"strategy": "Blue"}}}, "spec.backend.delivery.strategy"),
        (
            {
                "backend": {
                    "image": IMAGE,
                    "delivery": {"strategy": "Canary", "steps": [{"pause": {"duration": "2 min"}}]},
                }
            },
            "spec.backend.delivery.steps[0].pause.duration",
        ),
        (
            {
                "backend": {
                    "image": IMAGE,
                    "delivery": {
                        "strategy": "Canary",
                        "steps": [{"setWeight": 20}],
                        "analysis": {"prometheusAddress": "http://p:9090", "initialDelay": "8 seconds"},
                    },
                }
            },
            "spec.backend.delivery.analysis.initialDelay",
        ),
        ({"database": {"storage": {"size": "ten gigs"}}}, "spec.database.storage.size"),
        ({"database": {"version": 16}}, "spec.database.version"),
        ({"cache": {"maxMemory": "256MiB"}}, "spec.cache.maxMemory"),
        ({"ingress": {"enabled": True, "host": "Shop.Example.com"}}, "spec.ingress.host"),
        (
            {"ingress": {"certificateArn": "arn:aws:acm:eu-west-1:1:certificate/x"}},
            "spec.ingress.certificateArn",
        ),
        ({"backup": {"schedule": "every night"}}, "spec.backup.schedule"),
        ({"monitoring": {"alertFor": {"default": "5 min"}}}, "spec.monitoring.alertFor.default"),
        (
            {"monitoring": {"thresholds": {"p95LatencySeconds": 10}}},
            "spec.monitoring.thresholds.p95LatencySeconds",
        ),
        ({"monitoring": {"thresholds": {"errorRate": 1}}}, "spec.monitoring.thresholds.errorRate"),
        ({"backup": {"ttl": "30 days"}}, "spec.backup.ttl"),
        ({"monitoring": {"scrapeInterval": "often"}}, "spec.monitoring.scrapeInterval"),
        ({"security": {"priorityClassName": "High!"}}, "spec.security.priorityClassName"),
        ({"surprise": True}, "spec.surprise"),
    ],
)
def test_field_errors_name_the_path(sections: dict[str, Any], path: str) -> None:
    assert path in [p for p, _ in _problems(**sections)]


def test_only_the_wire_names_are_accepted() -> None:
    snake = _problems(backend={"image": IMAGE, "log_level": "debug"})
    assert ("spec.backend.log_level", "unknown field") in snake


def test_unknown_field_and_missing_spec_messages() -> None:
    assert ("spec.backend.imag", "unknown field") in _problems(backend={"image": IMAGE, "imag": "x"})
    with pytest.raises(SpecError, match="spec: required"):
        parse_spec({"metadata": {"name": "shop"}})
    with pytest.raises(SpecError, match=r"spec\.backend: Field required"):
        parse_spec({"spec": {}})


@pytest.mark.parametrize(
    "image",
    [
        "api:1.0",
        "ghcr.io/webstack-dev/users-api:0.1.0",
        "localhost:5000/team/api:v2",
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/users-api:1.4.2",
        "docker.io/library/postgres:16-alpine",
        "api@sha256:" + "a" * 64,
        "api:1.0@sha256:" + "b" * 64,
    ],
)
def test_image_references(image: str) -> None:
    assert _parse(backend={"image": image}).backend.image == image


@pytest.mark.parametrize("cron", ["0 3 * * *", "*/15 * * * *", "0 2 * * MON-FRI", "@daily", "@every 6h"])
def test_cron_schedules(cron: str) -> None:
    assert _parse(backup={"schedule": cron}).backup.schedule == cron


def test_quantities_accept_ints_and_strings() -> None:
    spec = _parse(database={"storage": {"size": 10737418240}})
    assert spec.database.storage.size == 10737418240
    with pytest.raises(SpecError):
        _parse(database={"storage": {"size": -1}})


@pytest.mark.parametrize("name", ["shop", "a", "shop-2", "a" * 40])
def test_valid_names(name: str) -> None:
    validate_name(name)


@pytest.mark.parametrize("name", ["", "2shop", "shop-", "Shop", "shop.v2", "a" * 41])
def test_invalid_names(name: str) -> None:
    with pytest.raises(SpecError, match=r"metadata\.name"):
        validate_name(name)


def test_status_model_round_trips() -> None:
    status = {
        "phase": "Ready",
        "observedGeneration": 4,
        "url": "https://shop.example.com",
        "readyComponents": "4/4",
        "components": {"backend": {"ready": 3, "desired": 3, "image": IMAGE}},
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "AllComponentsReady",
                "message": "ok",
                "lastTransitionTime": "2026-11-26T00:00:00Z",
                "observedGeneration": 4,
            }
        ],
    }
    parsed = WebStackStatus.model_validate(status)
    assert parsed.model_dump(mode="json", by_alias=True, exclude_none=True) == status


@pytest.mark.parametrize(
    "cidr", ["10.0.0.1/16", "10.0.0.0", "10.0.0.0/255.0.0.0", "10.0.0.0/33", "fd00::1/8", "x/8"]
)
def test_cidrs_are_networks(cidr: str) -> None:
    problems = _problems(ingress={"sourceCidrs": [cidr]})
    assert problems == [("spec.ingress.sourceCidrs[0]", f"{cidr!r} {CIDR_MESSAGE}")]


def test_network_fields_and_their_defaults() -> None:
    spec = _parse(
        ingress={"sourceCidrs": ["10.0.0.0/24", "2600:1f18::/56"]},
        database={
            "mode": "External",
            "credentials": {"secretRef": {"name": "rds"}},
            "cidrs": ["10.0.64.0/20"],
        },
        cache={"mode": "External", "secretRef": {"name": "redis"}, "port": 6380},
    )
    assert spec.ingress.source_cidrs == ["10.0.0.0/24", "2600:1f18::/56"]
    assert spec.database.port is None and spec.database.cidrs == ["10.0.64.0/20"]
    assert spec.cache.external_port == 6380
    assert _parse(cache={"mode": "External", "url": "rediss://c.example.com/0"}).cache.external_port == 6379
    assert _parse(cache={"mode": "External", "url": "redis://c:7000"}).cache.external_port == 7000
    dns = _parse().security.dns
    assert dns.namespace_labels == {"kubernetes.io/metadata.name": "kube-system"}
    assert dns.pod_labels == {"k8s-app": "kube-dns"}


def test_dns_selector_label_keys_are_checked() -> None:
    problems = _problems(security={"dns": {"podLabels": {"k8s app": "kube-dns"}}})
    assert problems[0][0] == "spec.security.dns.podLabels"
    assert LABEL_KEY_MESSAGE in problems[0][1]


@pytest.mark.parametrize(("cron", "reason"), [("0 0 31 2 *", "never runs"), ("0 25 * * *", "outside 0-23")])
def test_cron_schedules_that_match_the_pattern_but_never_run(cron: str, reason: str) -> None:
    [(path, message)] = _problems(backup={"schedule": cron})
    assert path == "spec.backup" and reason in message


def test_alert_for_takes_known_alert_names_only() -> None:
    assert _parse(
        monitoring={"alertFor": {"default": "30s", "WebStackBackendDown": "5s"}}
    ).monitoring.alert_for
    assert ("spec.monitoring", ALERT_FOR_UNKNOWN_KEY) in _problems(
        monitoring={"alertFor": {"WebStackSomethingElse": "1m"}}
    )

"""desired_objects: apply order, determinism, one object per identity, offline render without owners."""

from __future__ import annotations

import json
import re

from tests.support.rendered_stacks import kinds, make_stack, render

from webstack_operator.builders.migrate import migration_job
from webstack_operator.builders.stack_objects import APPLY_ORDER

FULL = {
    "backend": {
        "autoscaling": {"minReplicas": 2, "maxReplicas": 5},
        "iamRoleArn": "arn:aws:iam::123456789012:role/api",
        "delivery": {
            "strategy": "Canary",
            "steps": [{"setWeight": 20}, {"pause": {}}],
            "analysis": {"prometheusAddress": "http://prometheus:9090"},
        },
    },
    "ingress": {"enabled": True, "host": "shop.example.com"},
    "backup": {"enabled": True},
    "database": {"credentials": {"externalSecret": {"storeRef": {"name": "s"}, "remoteKey": "k"}}},
}


def test_minimal_stack() -> None:
    job = migration_job(make_stack())["metadata"]["name"]
    assert kinds(render()) == [
        "ServiceAccount/shop-backend",
        "ServiceAccount/shop-frontend",
        "ServiceAccount/shop-postgres",
        "ServiceAccount/shop-redis",
        "Secret/shop-postgres",
        "Secret/shop-redis",
        "ConfigMap/shop-frontend",
        "ConfigMap/shop-dashboard",
        "NetworkPolicy/shop-frontend",
        "NetworkPolicy/shop-backend",
        "NetworkPolicy/shop-migrate",
        "NetworkPolicy/shop-credentials",
        "NetworkPolicy/shop-postgres",
        "NetworkPolicy/shop-redis",
        "NetworkPolicy/shop-default-deny",
        "Service/shop-postgres",
        "Service/shop-postgres-rw",
        "Service/shop-redis",
        "Service/shop-backend",
        "Service/shop-backend-metrics",
        "Service/shop-frontend",
        "StatefulSet/shop-postgres",
        f"Job/{job}",
        "Deployment/shop-redis",
        "Deployment/shop-backend",
        "Deployment/shop-frontend",
        "PodDisruptionBudget/shop-backend",
        "PodDisruptionBudget/shop-frontend",
        "ServiceMonitor/shop-backend",
        "PrometheusRule/shop-alerts",
    ]


def test_full_stack_is_in_apply_order() -> None:
    objects = render(**FULL)
    order = [APPLY_ORDER.index(o["kind"]) for o in objects]
    assert order == sorted(order)
    assert {
        "AnalysisTemplate",
        "Rollout",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Schedule",
        "ExternalSecret",
    } <= {o["kind"] for o in objects}
    assert kinds(objects).index("AnalysisTemplate/shop-backend") < kinds(objects).index(
        "Rollout/shop-backend"
    )


def test_the_database_client_service_is_applied_before_every_pod_that_names_it() -> None:
    """The VIP exists before the StatefulSet's pod, the migration Job and the backend resolve it."""
    for sections in ({}, FULL):
        names = kinds(render(**sections))
        job = next(n for n in names if n.startswith("Job/"))
        backend = next(n for n in names if n in ("Deployment/shop-backend", "Rollout/shop-backend"))
        client = names.index("Service/shop-postgres-rw")
        assert client < names.index("StatefulSet/shop-postgres") < names.index(job) < names.index(backend)


def test_every_name_fits_its_limit_for_the_longest_stack_name() -> None:
    """A 40-character WebStack name (the CRD's limit): every Service name is still a DNS-1035 label, and
    the StatefulSet's leaves room for the revision-hash label of its pods."""
    stack = "a" * 40
    objects = render(name=stack, **FULL)
    for obj in objects:
        assert len(obj["metadata"]["name"]) <= 63, obj["metadata"]["name"]
    services = [o["metadata"]["name"] for o in objects if o["kind"] == "Service"]
    assert f"{stack}-postgres-rw" in services
    assert all(re.fullmatch(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?", name) for name in services), services
    [sts] = [o["metadata"]["name"] for o in objects if o["kind"] == "StatefulSet"]
    assert len(sts) <= 52


def test_deterministic_bytes() -> None:
    assert json.dumps(render(**FULL)) == json.dumps(render(**FULL))


def test_identities_are_unique() -> None:
    objects = render(**FULL)
    keys = [
        (o["apiVersion"], o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in objects
    ]
    assert len(keys) == len(set(keys))


def test_offline_render_has_no_owner_references() -> None:
    assert all("ownerReferences" not in o["metadata"] for o in render(owner=None, **FULL))


def test_owner_references_on_same_namespace_objects_except_retained_data() -> None:
    for obj in render(**{**FULL, "database": {"deletionPolicy": "Retain"}}):
        owned = "ownerReferences" in obj["metadata"]
        cross_namespace = obj["metadata"]["namespace"] != "team-a"
        # The database's credentials outlive the stack with its volume; the cache's password goes with it.
        retained = obj["kind"] == "Secret" and obj["metadata"]["name"] == "shop-postgres"
        assert owned == (not cross_namespace and not retained), f"{obj['kind']}/{obj['metadata']['name']}"

"""Backend: the users API's pod contract, Deployment or Rollout, Services, HPA and PDB."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from tests.support.rendered_stacks import NO_OPTIONAL_APIS, env_of, find, kinds, make_stack

from webstack_operator.builders.backend import backend_env, backend_objects, backend_pod_template

CANARY = {"delivery": {"strategy": "Canary", "steps": [{"setWeight": 20}, {"pause": {}}]}}


def _container(**sections: Any) -> dict[str, Any]:
    container: dict[str, Any] = backend_pod_template(make_stack(**sections))["spec"]["containers"][0]
    return container


def test_pod_contract() -> None:
    container = _container()
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"cpu": "1", "memory": "256Mi"},
    }


def test_env_for_managed_database_and_cache() -> None:
    env = backend_env(make_stack(backend={"env": [{"name": "EXTRA", "value": "1"}], "logLevel": "debug"}))
    names = [e["name"] for e in env]
    assert names == [
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGPASSWORD",
        "PGDATABASE",
        "REDIS_URL",
        "REDIS_PASSWORD",
        "CACHE_TTL_SECONDS",
        "LOG_LEVEL",
        "RUN_MIGRATIONS",
        "EXTRA",
    ]
    by_name = {e["name"]: e for e in env}
    # The ClusterIP client Service, not the headless one (NXDOMAIN while Postgres is not Ready).
    assert by_name["PGHOST"]["value"] == "shop-postgres-rw"
    assert by_name["PGPORT"]["value"] == "5432"
    assert by_name["PGPASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "shop-postgres", "key": "password"}
    }
    assert by_name["REDIS_URL"]["value"] == "redis://shop-redis:6379/0"  # no credentials in the URL
    assert by_name["REDIS_PASSWORD"]["valueFrom"] == {
        "secretKeyRef": {"name": "shop-redis", "key": "password"}
    }
    assert by_name["CACHE_TTL_SECONDS"]["value"] == "30"
    assert by_name["LOG_LEVEL"]["value"] == "debug"
    assert by_name["RUN_MIGRATIONS"]["value"] == "false"  # the migration Job migrates, never a pod


def test_env_for_external_database_and_cache() -> None:
    ctx = make_stack(
        database={"mode": "External", "credentials": {"secretRef": {"name": "rds"}}},
        cache={"mode": "External", "secretRef": {"name": "elasticache"}},
    )
    env = {e["name"]: e for e in backend_env(ctx)}
    assert env["DATABASE_URL"]["valueFrom"] == {"secretKeyRef": {"name": "rds", "key": "uri"}}
    assert "PGHOST" not in env
    assert env["REDIS_URL"]["valueFrom"] == {"secretKeyRef": {"name": "elasticache", "key": "uri"}}
    url = env_of(_container(cache={"mode": "External", "url": "rediss://cache.example.com:6380/0"}))
    assert url["REDIS_URL"] == "rediss://cache.example.com:6380/0"
    assert "REDIS_PASSWORD" not in env and "REDIS_PASSWORD" not in url  # optional for an External cache


def test_external_cache_password_from_the_referenced_secret_key() -> None:
    env = env_of(
        _container(
            cache={
                "mode": "External",
                "url": "rediss://cache.example.com:6380/0",
                "passwordSecretRef": {"name": "elasticache-auth", "key": "token"},
            }
        )
    )
    assert env["REDIS_PASSWORD"] == {"secretKeyRef": {"name": "elasticache-auth", "key": "token"}}


def test_disabled_cache_sets_no_redis_url() -> None:
    env = env_of(_container(cache={"mode": "Disabled"}))
    assert "REDIS_URL" not in env and "REDIS_PASSWORD" not in env


def test_user_env_value_from() -> None:
    env = env_of(
        _container(backend={"env": [{"name": "K", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]})
    )
    assert env["K"] == {"secretKeyRef": {"name": "s", "key": "k"}}


def test_rolling_update_is_a_deployment_that_never_dips() -> None:
    objects = backend_objects(make_stack(backend={"replicas": 4}))
    assert kinds(objects) == [
        "Service/shop-backend",
        "Service/shop-backend-metrics",
        "Deployment/shop-backend",
        "PodDisruptionBudget/shop-backend",
    ]
    deployment = find(objects, "Deployment", "shop-backend")
    assert deployment["spec"]["replicas"] == 4
    assert deployment["spec"]["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": 0}


def test_canary_is_a_rollout_with_stable_and_canary_services() -> None:
    objects = backend_objects(make_stack(backend=CANARY))
    rollout = find(objects, "Rollout", "shop-backend")
    assert rollout["apiVersion"] == "argoproj.io/v1alpha1"
    assert rollout["spec"]["strategy"]["canary"]["stableService"] == "shop-backend"
    assert rollout["spec"]["strategy"]["canary"]["canaryService"] == "shop-backend-canary"
    find(objects, "Service", "shop-backend-canary")


def test_canary_falls_back_to_deployment_without_argo() -> None:
    objects = backend_objects(make_stack(backend=CANARY, capabilities=NO_OPTIONAL_APIS))
    assert [o["kind"] for o in objects] == ["Service", "Deployment", "PodDisruptionBudget"]


HASHES = {"shop-backend": "stable1", "shop-backend-canary": "canary2", "shop-backend-metrics": "x"}


def _selectors(objects: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    return {o["metadata"]["name"]: o["spec"]["selector"] for o in objects if o["kind"] == "Service"}


def test_canary_services_render_back_the_pod_template_hash_argo_rollouts_set() -> None:
    """Argo's key in the (atomic) selector, as observed: the operator's apply takes nothing from Argo."""
    plain = _selectors(backend_objects(make_stack(backend=CANARY)))
    observed = _selectors(backend_objects(replace(make_stack(backend=CANARY), pod_template_hashes=HASHES)))
    assert observed["shop-backend"] == {**plain["shop-backend"], "rollouts-pod-template-hash": "stable1"}
    assert observed["shop-backend-canary"] == {
        **plain["shop-backend-canary"],
        "rollouts-pod-template-hash": "canary2",
    }
    assert observed["shop-backend-metrics"] == plain["shop-backend-metrics"]  # Argo never rewrites it
    # A fresh stack: nothing observed yet, the Services select every backend pod until Argo narrows them.
    assert "rollouts-pod-template-hash" not in plain["shop-backend"]
    assert "rollouts-pod-template-hash" not in plain["shop-backend-canary"]


def test_a_deployment_drops_the_pod_template_hash_a_former_rollout_left() -> None:
    """Switched to RollingUpdate, or Argo Rollouts uninstalled: no Rollout narrows the Service any more."""
    for ctx in (make_stack(), make_stack(backend=CANARY, capabilities=NO_OPTIONAL_APIS)):
        selectors = _selectors(backend_objects(replace(ctx, pod_template_hashes=HASHES)))
        assert "shop-backend-canary" not in selectors
        assert all("rollouts-pod-template-hash" not in s for s in selectors.values()), selectors


def test_hpa_owns_replicas() -> None:
    autoscaling = {"minReplicas": 3, "maxReplicas": 9, "targetMemoryUtilizationPercentage": 80}
    objects = backend_objects(make_stack(backend={**CANARY, "autoscaling": autoscaling}))
    rollout = find(objects, "Rollout", "shop-backend")
    assert "replicas" not in rollout["spec"]
    hpa = find(objects, "HorizontalPodAutoscaler", "shop-backend")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "name": "shop-backend",
    }
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu", "memory"]
    fallback = backend_objects(make_stack(backend={"autoscaling": {}}))
    assert (
        find(fallback, "HorizontalPodAutoscaler", "shop-backend")["spec"]["scaleTargetRef"]["kind"]
        == "Deployment"
    )


def test_pdb_never_blocks_a_drain() -> None:
    pdb = find(backend_objects(make_stack(backend={"replicas": 1})), "PodDisruptionBudget", "shop-backend")
    assert pdb["spec"]["maxUnavailable"] == 1
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    assert all(
        o["kind"] != "PodDisruptionBudget"
        for o in backend_objects(make_stack(security={"podDisruptionBudgets": False}))
    )


def test_metrics_service_is_headless_and_labelled_for_scraping() -> None:
    service = find(backend_objects(make_stack()), "Service", "shop-backend-metrics")
    assert service["spec"]["clusterIP"] == "None"
    assert service["metadata"]["labels"]["webstack.dev/scrape"] == "true"
    assert service["spec"]["ports"][0]["port"] == 8000


def test_services_map_port_80_to_http() -> None:
    service = find(backend_objects(make_stack()), "Service", "shop-backend")
    assert service["spec"]["ports"] == [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}]


def test_alb_health_check_uses_readiness() -> None:
    ingress = {"enabled": True, "host": "shop.example.com"}
    service = find(backend_objects(make_stack(ingress=ingress)), "Service", "shop-backend")
    assert service["metadata"]["annotations"] == {"alb.ingress.kubernetes.io/healthcheck-path": "/readyz"}


def test_pod_placement_and_priority() -> None:
    pod = backend_pod_template(
        make_stack(security={"priorityClassName": "webstack-high"}, imagePullSecrets=[{"name": "ecr"}])
    )["spec"]
    assert pod["priorityClassName"] == "webstack-high"
    assert pod["imagePullSecrets"] == [{"name": "ecr"}]
    assert [c["topologyKey"] for c in pod["topologySpreadConstraints"]] == [
        "topology.kubernetes.io/zone",
        "kubernetes.io/hostname",
    ]
    assert pod["serviceAccountName"] == "shop-backend"
    assert pod["enableServiceLinks"] is False

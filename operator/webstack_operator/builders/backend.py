"""The users API: pod template, Deployment or Argo Rollout, Services, HorizontalPodAutoscaler, PDB.

The pod contract (port, probes, environment) is the one `users_api.settings` reads. When autoscaling is
on, the workload leaves `replicas` unset so that, under server-side apply, the HPA alone owns it.
"""

from collections.abc import Mapping

from webstack_operator.api.backend_types import EnvVar
from webstack_operator.builders import canary
from webstack_operator.builders.availability import pod_disruption_budget, topology_spread
from webstack_operator.builders.container_resources import resources
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.hardening import TMP_VOLUME, container_security_context, empty_dir, pod_spec
from webstack_operator.builders.identity import service_account_name
from webstack_operator.builders.metadata import object_meta
from webstack_operator.builders.placement import scheduling
from webstack_operator.builders.postgres import POSTGRES_PORT, client_service_name
from webstack_operator.builders.probes import drain_before_stop, http_probe
from webstack_operator.builders.redis import PASSWORD_KEY, REDIS_PORT, cache_secret_name, redis_name
from webstack_operator.builders.services import service
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

BACKEND_UID = 10001  # the users API image's USER (Dockerfile.webapp)
BACKEND_GID = 10001
HTTP_PORT = 8000
SERVICE_PORT = 80
CONTAINER = "backend"
SCRAPE_LABEL = "webstack.dev/scrape"
ALB_HEALTHCHECK_ANNOTATION = "alb.ingress.kubernetes.io/healthcheck-path"


def backend_name(ctx: StackContext) -> str:
    """Name of the workload, its stable Service, HPA and PDB."""
    return ctx.child("backend")


def canary_service_name(ctx: StackContext) -> str:
    """The Service Argo Rollouts points at the canary pods."""
    return ctx.child("backend-canary")


def metrics_service_name(ctx: StackContext) -> str:
    """The Service Prometheus scrapes: every backend pod, stable or canary (Argo never rewrites it)."""
    return ctx.child("backend-metrics")


def backend_url(ctx: StackContext) -> str:
    """Where nginx proxies `/api`: the stable Service, by its full name (nginx's resolver, unlike the pod's,
    knows no search domains)."""
    domain = ctx.settings.cluster_domain
    return f"http://{backend_name(ctx)}.{ctx.namespace}.svc.{domain}:{SERVICE_PORT}"


def _secret_env(name: str, secret: str, key: str) -> JSON:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _user_env(var: EnvVar) -> JSON:
    if var.value_from is None:
        return {"name": var.name, "value": var.value or ""}
    source = var.value_from
    if source.secret_key_ref is not None:
        ref = {"secretKeyRef": {"name": source.secret_key_ref.name, "key": source.secret_key_ref.key}}
    else:
        assert source.config_map_key_ref is not None
        ref = {
            "configMapKeyRef": {"name": source.config_map_key_ref.name, "key": source.config_map_key_ref.key}
        }
    return {"name": var.name, "valueFrom": ref}


def backend_env(ctx: StackContext) -> list[JSON]:
    """Database, cache and runtime settings for the users API, then the user's own variables."""
    spec = ctx.spec
    secret = ctx.credentials_secret
    env: list[JSON]
    if ctx.database_managed:
        env = [
            {"name": "PGHOST", "value": client_service_name(ctx)},
            {"name": "PGPORT", "value": str(POSTGRES_PORT)},
            _secret_env("PGUSER", secret, "username"),
            _secret_env("PGPASSWORD", secret, "password"),
            _secret_env("PGDATABASE", secret, "database"),
        ]
    else:
        env = [_secret_env("DATABASE_URL", secret, "uri")]
    cache = spec.cache
    if cache.mode == "Managed":
        env.append({"name": "REDIS_URL", "value": f"redis://{redis_name(ctx)}:{REDIS_PORT}/0"})
        env.append(_secret_env("REDIS_PASSWORD", cache_secret_name(ctx), PASSWORD_KEY))
    elif cache.mode == "External" and cache.url is not None:
        env.append({"name": "REDIS_URL", "value": cache.url})
    elif cache.mode == "External" and cache.secret_ref is not None:
        env.append(_secret_env("REDIS_URL", cache.secret_ref.name, "uri"))
    if cache.mode == "External" and cache.password_secret_ref is not None:
        ref = cache.password_secret_ref
        env.append(_secret_env("REDIS_PASSWORD", ref.name, ref.key))
    env += [
        {"name": "CACHE_TTL_SECONDS", "value": str(cache.ttl_seconds)},
        {"name": "LOG_LEVEL", "value": spec.backend.log_level},
        # The migration Job (builders/migrate.py) changes the schema before a new image rolls out; a pod
        # never does, whatever its image's default.
        {"name": "RUN_MIGRATIONS", "value": "false"},
    ]
    env += [_user_env(var) for var in spec.backend.env or ()]
    return env


def users_api_container(
    ctx: StackContext,
    name: str,
    *,
    command: list[str] | None = None,
    ports: list[JSON] | None = None,
    probes: Mapping[str, JSON] | None = None,
) -> JSON:
    """The users API image as every pod of the stack runs it: the backend's environment (credentials
    included), resources and hardening, and a writable /tmp."""
    backend = ctx.spec.backend
    container: JSON = {"name": name, "image": backend.image, "imagePullPolicy": "IfNotPresent"}
    if command is not None:
        container["command"] = command
    if ports is not None:
        container["ports"] = ports
    container["env"] = backend_env(ctx)
    container["resources"] = resources(backend.resources)
    container["securityContext"] = container_security_context()
    container.update(probes or {})
    container["volumeMounts"] = [{"name": TMP_VOLUME, "mountPath": "/tmp"}]
    return container


def users_api_pod_spec(ctx: StackContext, container: JSON, **extra: object) -> JSON:
    """The hardened pod around `users_api_container`: the backend's ServiceAccount, its user, the /tmp."""
    return pod_spec(
        ctx,
        service_account=service_account_name(ctx, labels.BACKEND),
        uid=BACKEND_UID,
        gid=BACKEND_GID,
        containers=[container],
        volumes=[empty_dir(TMP_VOLUME, "64Mi")],
        extra=extra,
    )


def backend_pod_template(ctx: StackContext) -> JSON:
    """The pod of the users API."""
    container = users_api_container(
        ctx,
        CONTAINER,
        ports=[{"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"}],
        probes={
            # The server waits for Postgres (DB_STARTUP_TIMEOUT_SECONDS) before it listens: two minutes.
            "startupProbe": http_probe("/healthz", period=2, failures=60),
            "livenessProbe": http_probe("/healthz", period=10),
            "readinessProbe": http_probe("/readyz", period=5, timeout=3),
        },
    )
    container["lifecycle"] = drain_before_stop()
    return {
        "metadata": {
            "labels": labels.standard_labels(ctx.name, labels.BACKEND),
            "annotations": {"kubectl.kubernetes.io/default-container": CONTAINER},
        },
        "spec": users_api_pod_spec(
            ctx,
            container,
            **scheduling(
                ctx,
                labels.BACKEND,
                ctx.spec.backend.placement,
                built_in_spread=topology_spread(ctx, labels.BACKEND),
            ),
        ),
    }


def _workload_spec(ctx: StackContext) -> JSON:
    spec: JSON = {}
    if ctx.spec.backend.autoscaling is None:
        spec["replicas"] = ctx.spec.backend.replicas
    spec["revisionHistoryLimit"] = 5
    spec["selector"] = {"matchLabels": labels.selector_labels(ctx.name, labels.BACKEND)}
    spec["template"] = backend_pod_template(ctx)
    return spec


def backend_workload(ctx: StackContext) -> JSON:
    """A Rollout for canary delivery (with Argo Rollouts installed), else a Deployment."""
    spec = _workload_spec(ctx)
    if ctx.uses_rollout:
        return {
            "apiVersion": canary.ROLLOUT_API_VERSION,
            "kind": "Rollout",
            "metadata": object_meta(ctx, backend_name(ctx), labels.BACKEND),
            "spec": {**spec, "strategy": canary.canary_strategy(ctx)},
        }
    # Surge, never dip: a rollout keeps full serving capacity.
    spec["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(ctx, backend_name(ctx), labels.BACKEND),
        "spec": spec,
    }


def rollout_selector(ctx: StackContext, service_name: str) -> dict[str, str]:
    """The selector key Argo Rollouts added to a stable or canary Service, rendered back as observed: the
    selector is one atomic map for server-side apply, so leaving it out would take it from Argo (and point
    the stable Service at canary pods until Argo put it back). A Deployment's Services never carry it."""
    pod_hash = ctx.pod_template_hashes.get(service_name) if ctx.uses_rollout else None
    return {canary.HASH_LABEL: pod_hash} if pod_hash else {}


def backend_services(ctx: StackContext) -> list[JSON]:
    """Stable Service (and canary Service for a Rollout; metrics Service when monitored)."""
    ports = [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]
    annotations = {ALB_HEALTHCHECK_ANNOTATION: "/readyz"} if ctx.ingress_is_alb else None
    names = [backend_name(ctx), canary_service_name(ctx)] if ctx.uses_rollout else [backend_name(ctx)]
    services = [
        service(
            ctx,
            name,
            labels.BACKEND,
            ports,
            annotations=annotations,
            extra_selector=rollout_selector(ctx, name),
        )
        for name in names
    ]
    if ctx.monitoring_enabled:
        metrics_ports = [{"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}]
        services.append(
            service(
                ctx,
                metrics_service_name(ctx),
                labels.BACKEND,
                metrics_ports,
                headless=True,
                extra_labels={SCRAPE_LABEL: "true"},
            )
        )
    return services


def backend_hpa(ctx: StackContext) -> JSON | None:
    """The autoscaler, targeting whichever workload kind renders."""
    scaling = ctx.spec.backend.autoscaling
    if scaling is None:
        return None
    target = (
        {"apiVersion": canary.ROLLOUT_API_VERSION, "kind": "Rollout"}
        if ctx.uses_rollout
        else {"apiVersion": "apps/v1", "kind": "Deployment"}
    )
    metrics = [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {
                    "type": "Utilization",
                    "averageUtilization": scaling.target_cpu_utilization_percentage,
                },
            },
        }
    ]
    if scaling.target_memory_utilization_percentage is not None:
        metrics.append(
            {
                "type": "Resource",
                "resource": {
                    "name": "memory",
                    "target": {
                        "type": "Utilization",
                        "averageUtilization": scaling.target_memory_utilization_percentage,
                    },
                },
            }
        )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": object_meta(ctx, backend_name(ctx), labels.BACKEND),
        "spec": {
            "scaleTargetRef": {**target, "name": backend_name(ctx)},
            "minReplicas": scaling.min_replicas,
            "maxReplicas": scaling.max_replicas,
            "metrics": metrics,
            # Scale up at once, down slowly: a traffic dip should not cost the next spike's capacity.
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 300}},
        },
    }


def backend_objects(ctx: StackContext) -> list[JSON]:
    """Every backend object, in apply order among themselves."""
    objects = [*backend_services(ctx)]
    template = canary.analysis_template(ctx)
    if template is not None:
        objects.append(template)
    objects.append(backend_workload(ctx))
    hpa = backend_hpa(ctx)
    if hpa is not None:
        objects.append(hpa)
    if ctx.spec.security.pod_disruption_budgets:
        objects.append(pod_disruption_budget(ctx, backend_name(ctx), labels.BACKEND))
    return objects

"""The UI: nginx serving the static assets and proxying `/api/` to the backend's stable Service.

nginx.conf and the assets travel in one ConfigMap. nginx.conf is mounted with subPath (it replaces one
file of the image), which the kubelet never refreshes, so the pod template carries a checksum of the
ConfigMap: any change rolls the pods, and what runs always matches what was rendered.
"""

from webstack_contract.frontend import render_nginx_conf
from webstack_operator.builders.availability import pod_disruption_budget, topology_spread
from webstack_operator.builders.backend import backend_url
from webstack_operator.builders.checksums import CONFIG_CHECKSUM_ANNOTATION, checksum
from webstack_operator.builders.container_resources import resources
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.hardening import TMP_VOLUME, container_security_context, empty_dir, pod_spec
from webstack_operator.builders.identity import service_account_name
from webstack_operator.builders.metadata import object_meta
from webstack_operator.builders.placement import scheduling
from webstack_operator.builders.probes import drain_before_stop, http_probe
from webstack_operator.builders.services import service
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

NGINX_UID = 101  # the `nginx` user of nginxinc/nginx-unprivileged
NGINX_GID = 101
LISTEN_PORT = 8080
SERVICE_PORT = 80
STATIC_ROOT = "/usr/share/nginx/html"
NGINX_CONF_KEY = "nginx.conf"
CONTAINER = "frontend"


def frontend_name(ctx: StackContext) -> str:
    """Name of the ConfigMap, Deployment, Service and PDB."""
    return ctx.child("frontend")


def nginx_conf(ctx: StackContext) -> str:
    """The rendered main nginx.conf."""
    if not ctx.settings.frontend_nginx_template:
        raise ValueError("settings.frontend_nginx_template is empty: the caller must load the nginx template")
    return render_nginx_conf(
        ctx.settings.frontend_nginx_template,
        listen_port=LISTEN_PORT,
        backend_url=backend_url(ctx),
        static_root=STATIC_ROOT,
        resolver=ctx.settings.cluster_dns,
    )


def frontend_config_map(ctx: StackContext) -> JSON:
    """nginx.conf and the UI assets, keys sorted for stable output."""
    data = {NGINX_CONF_KEY: nginx_conf(ctx), **ctx.settings.frontend_assets}
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": object_meta(ctx, frontend_name(ctx), labels.FRONTEND),
        "data": dict(sorted(data.items())),
    }


def nginx_container(ctx: StackContext) -> JSON:
    """nginx with its nginx.conf (one file of the image replaced) and the assets as its static root."""
    frontend = ctx.spec.frontend
    return {
        "name": CONTAINER,
        "image": frontend.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [{"name": "http", "containerPort": LISTEN_PORT, "protocol": "TCP"}],
        "resources": resources(frontend.resources),
        "securityContext": container_security_context(),
        "livenessProbe": http_probe("/healthz", period=10),
        "readinessProbe": http_probe("/healthz", period=5),
        "lifecycle": drain_before_stop(),
        "volumeMounts": [
            {
                "name": "config",
                "mountPath": "/etc/nginx/nginx.conf",
                "subPath": NGINX_CONF_KEY,
                "readOnly": True,
            },
            {"name": "assets", "mountPath": STATIC_ROOT, "readOnly": True},
            {"name": TMP_VOLUME, "mountPath": "/tmp"},
        ],
    }


def _volumes(ctx: StackContext, config_map: JSON) -> list[JSON]:
    """The ConfigMap twice (nginx.conf alone, and every asset), and scratch space."""
    name = frontend_name(ctx)
    assets = sorted(key for key in config_map["data"] if key != NGINX_CONF_KEY)
    return [
        {
            "name": "config",
            "configMap": {"name": name, "items": [{"key": NGINX_CONF_KEY, "path": NGINX_CONF_KEY}]},
        },
        {
            "name": "assets",
            "configMap": {"name": name, "items": [{"key": key, "path": key} for key in assets]},
        },
        empty_dir(TMP_VOLUME, "64Mi"),
    ]


def frontend_deployment(ctx: StackContext, config_map: JSON) -> JSON:
    """nginx, rolled whenever its ConfigMap's content changes."""
    frontend, name = ctx.spec.frontend, frontend_name(ctx)
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": object_meta(ctx, name, labels.FRONTEND),
        "spec": {
            "replicas": frontend.replicas,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": labels.selector_labels(ctx.name, labels.FRONTEND)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": 0}},
            "template": {
                "metadata": {
                    "labels": labels.standard_labels(ctx.name, labels.FRONTEND),
                    "annotations": {CONFIG_CHECKSUM_ANNOTATION: checksum(config_map["data"])},
                },
                "spec": pod_spec(
                    ctx,
                    service_account=service_account_name(ctx, labels.FRONTEND),
                    uid=NGINX_UID,
                    gid=NGINX_GID,
                    containers=[nginx_container(ctx)],
                    volumes=_volumes(ctx, config_map),
                    extra=scheduling(
                        ctx,
                        labels.FRONTEND,
                        frontend.placement,
                        built_in_spread=topology_spread(ctx, labels.FRONTEND),
                    ),
                ),
            },
        },
    }


def frontend_service(ctx: StackContext) -> JSON:
    """The Service the Ingress sends `/` to."""
    ports = [{"name": "http", "port": SERVICE_PORT, "targetPort": "http", "protocol": "TCP"}]
    annotations = {"alb.ingress.kubernetes.io/healthcheck-path": "/healthz"} if ctx.ingress_is_alb else None
    return service(ctx, frontend_name(ctx), labels.FRONTEND, ports, annotations=annotations)


def frontend_objects(ctx: StackContext) -> list[JSON]:
    """Every frontend object."""
    config_map = frontend_config_map(ctx)
    objects = [config_map, frontend_service(ctx), frontend_deployment(ctx, config_map)]
    if ctx.spec.security.pod_disruption_budgets:
        objects.append(pod_disruption_budget(ctx, frontend_name(ctx), labels.FRONTEND))
    return objects

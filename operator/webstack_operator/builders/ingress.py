"""The Ingress: `/api` to the backend's stable Service, `/` to the frontend.

With `className: alb` it carries the AWS Load Balancer Controller's annotations: IP targets (pods are
registered directly, so NetworkPolicies see real client-side sources), HTTPS with the ACM certificate and
an HTTP redirect when a certificate is given, optional shared ALB (`group.name`). When Argo Rollouts
routes canary traffic through the ALB, the `/api` rule names the stable Service with the port
`use-annotation`: Argo writes the weighted forward action into the annotation of that name, and since the
operator never sets that annotation, server-side apply leaves it to Argo.
"""

import json

from webstack_operator.builders.backend import SERVICE_PORT, backend_name
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.frontend import frontend_name
from webstack_operator.builders.metadata import object_meta
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

ALB = "alb.ingress.kubernetes.io/"
TLS_POLICY = "ELBSecurityPolicy-TLS13-1-2-2021-06"


def stack_url(ctx: StackContext) -> str | None:
    """The URL the stack is served at (for `status.url`), if it has an Ingress."""
    ingress = ctx.spec.ingress
    if not ingress.enabled or ingress.host is None:
        return None
    scheme = "https" if ingress.certificate_arn is not None and ctx.ingress_is_alb else "http"
    return f"{scheme}://{ingress.host}"


def alb_annotations(ctx: StackContext) -> dict[str, str]:
    """AWS Load Balancer Controller settings."""
    ingress = ctx.spec.ingress
    annotations = {
        ALB + "scheme": ingress.scheme,
        ALB + "target-type": "ip",
        ALB + "healthcheck-path": "/healthz",
        ALB + "tags": f"webstack.dev/stack={ctx.namespace}/{ctx.name}",
    }
    if ingress.certificate_arn is not None:
        annotations |= {
            ALB + "certificate-arn": ingress.certificate_arn,
            ALB + "listen-ports": json.dumps([{"HTTP": 80}, {"HTTPS": 443}]),
            ALB + "ssl-redirect": "443",
            ALB + "ssl-policy": TLS_POLICY,
        }
    else:
        annotations[ALB + "listen-ports"] = json.dumps([{"HTTP": 80}])
    if ingress.group_name is not None:
        annotations[ALB + "group.name"] = ingress.group_name
    return annotations


def _path(path: str, service: str, port: JSON) -> JSON:
    return {"path": path, "pathType": "Prefix", "backend": {"service": {"name": service, "port": port}}}


def ingress(ctx: StackContext) -> JSON | None:
    """The Ingress, when enabled."""
    spec = ctx.spec.ingress
    if not spec.enabled or spec.host is None:
        return None
    annotations = alb_annotations(ctx) if ctx.ingress_is_alb else {}
    annotations |= spec.annotations or {}
    api_port: JSON = {"name": "use-annotation"} if ctx.alb_traffic_routing else {"number": SERVICE_PORT}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": object_meta(ctx, ctx.name, labels.INGRESS, annotations=dict(sorted(annotations.items()))),
        "spec": {
            "ingressClassName": spec.class_name,
            "rules": [
                {
                    "host": spec.host,
                    "http": {
                        "paths": [
                            _path("/api", backend_name(ctx), api_port),
                            _path("/", frontend_name(ctx), {"number": SERVICE_PORT}),
                        ]
                    },
                }
            ],
        },
    }


def ingress_objects(ctx: StackContext) -> list[JSON]:
    """The Ingress, or nothing."""
    obj = ingress(ctx)
    return [obj] if obj is not None else []

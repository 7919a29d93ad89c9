"""Shared test helpers: a WebStack spec literal in, a StackContext out; finders over rendered objects."""

from __future__ import annotations

import copy
from typing import Any

from webstack_contract.frontend import load_frontend_assets, nginx_conf_template
from webstack_operator.api.spec import WebStackSpec
from webstack_operator.builders.context import OwnerRef, StackContext
from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.config.operator_settings import Capabilities, OperatorSettings

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
PASSWORD = "test-password-0123456789abcdefghij"
CACHE_PASSWORD = "test-cache-password-0123456789abcdef"
OWNER = OwnerRef(api_version="webstack.dev/v1alpha1", kind="WebStack", name="shop", uid="6f1c2d3e-uid")
SETTINGS = OperatorSettings(
    frontend_nginx_template=nginx_conf_template(), frontend_assets=load_frontend_assets()
)
NO_OPTIONAL_APIS = Capabilities(
    argo_rollouts=False, prometheus_operator=False, velero=False, sealed_secrets=False, external_secrets=False
)


# A canary with Prometheus analysis and monitoring on: the spec sections the canary query tests render.
ANALYSED_CANARY: dict[str, Any] = {
    "backend": {
        "delivery": {
            "strategy": "Canary",
            "steps": [{"setWeight": 50}],
            "analysis": {"prometheusAddress": "http://prometheus:9090"},
        }
    },
    "monitoring": {"enabled": True},
}


def merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """Deep merge of spec fragments (extra wins)."""
    out = copy.deepcopy(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def spec_of(**sections: Any) -> WebStackSpec:
    """A valid spec: the backend image plus the given sections."""
    return WebStackSpec.model_validate(merge({"backend": {"image": IMAGE}}, sections))


def make_stack(
    *,
    name: str = "shop",
    namespace: str = "team-a",
    owner: OwnerRef | None = OWNER,
    capabilities: Capabilities | None = None,
    **sections: Any,
) -> StackContext:
    """A StackContext as the operator builds it (owner set), from spec sections."""
    settings = (
        SETTINGS
        if capabilities is None
        else OperatorSettings(
            frontend_nginx_template=SETTINGS.frontend_nginx_template,
            frontend_assets=SETTINGS.frontend_assets,
            capabilities=capabilities,
        )
    )
    return StackContext(
        spec=spec_of(**sections),
        name=name,
        namespace=namespace,
        settings=settings,
        owner=owner,
        generated_password=PASSWORD,
        generated_cache_password=CACHE_PASSWORD,
    )


def render(**kwargs: Any) -> list[dict[str, Any]]:
    """desired_objects of make_stack(**kwargs)."""
    return desired_objects(make_stack(**kwargs))


def find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of that kind and name."""
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, (
        f"{kind}/{name}: found {len(found)} in {[(o['kind'], o['metadata']['name']) for o in objects]}"
    )
    return found[0]


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    """`Kind/name` of every object, in order."""
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """Container env by name: the literal value, or the valueFrom block."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}

"""Process-level wiring: operator settings from the environment and files, and `webstack-operator run`.

This is where the I/O the builders must not do happens once: reading the frontend assets and images.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence
from types import MappingProxyType

from webstack_operator.settings import OperatorSettings


def load_operator_settings() -> OperatorSettings:
    from users_api.frontend import load_frontend_assets, nginx_conf_template

    defaults = OperatorSettings()
    return OperatorSettings(
        postgres_repository=os.environ.get("WEBSTACK_POSTGRES_REPOSITORY", defaults.postgres_repository),
        redis_image=os.environ.get("WEBSTACK_REDIS_IMAGE", defaults.redis_image),
        velero_namespace=os.environ.get("WEBSTACK_VELERO_NAMESPACE", defaults.velero_namespace),
        monitoring_namespace=os.environ.get("WEBSTACK_MONITORING_NAMESPACE", defaults.monitoring_namespace),
        frontend_nginx_template=nginx_conf_template(),
        frontend_assets=MappingProxyType(dict(load_frontend_assets())),
    )


def run_operator(namespaces: Sequence[str], liveness_port: int, verbose: bool = False) -> None:
    """Runs kopf until SIGTERM: all namespaces, or only the given ones."""
    import kopf

    import webstack_operator.handlers  # noqa: F401  (registers the handlers)

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format='{"time":"%(asctime)s","level":"%(levelname)s","logger":"%(name)s","message":"%(message)s"}',
    )
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if not verbose:  # "Handler ... succeeded" for every event and timer tick: failures still show
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    liveness = f"http://0.0.0.0:{liveness_port}/healthz" if liveness_port else None
    asyncio.run(
        kopf.operator(
            clusterwide=not namespaces,
            namespaces=list(namespaces),
            liveness_endpoint=liveness,
            standalone=True,  # one replica by design: see docs/ops/upgrade.md (no kopf peering CRDs needed)
        )
    )

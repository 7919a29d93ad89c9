"""`webstack-operator run`: logging, the metrics endpoint, then kopf until SIGTERM, with one configuration."""

from __future__ import annotations

import asyncio

from prometheus_client import start_http_server

from webstack_operator import metrics
from webstack_operator.config import OperatorConfig
from webstack_operator.logs import configure_logging


def run_operator(config: OperatorConfig) -> None:
    """Runs kopf until SIGTERM: all namespaces, or only the configured ones."""
    import kopf

    import webstack_operator.handlers  # noqa: F401  (registers the handlers)

    configure_logging(config.verbose)
    if config.metrics_port:
        start_http_server(config.metrics_port, addr=config.metrics_addr, registry=metrics.REGISTRY)
    liveness = f"http://0.0.0.0:{config.liveness_port}/healthz" if config.liveness_port else None
    asyncio.run(
        kopf.operator(
            clusterwide=not config.namespaces,
            namespaces=list(config.namespaces),
            liveness_endpoint=liveness,
            standalone=True,  # one replica by design: see docs/ops/upgrade.md (no kopf peering CRDs needed)
            memo=kopf.Memo(config=config),
        )
    )

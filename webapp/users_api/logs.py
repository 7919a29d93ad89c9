"""The users API's logging: uvicorn's loggers routed through the shared JSON handler (webstack_contract)."""

from __future__ import annotations

import logging

from webstack_contract.logs import use_json_logging


def configure_logging(level: str) -> None:
    """Route every logger, uvicorn's included, through one JSON handler; uvicorn's access log stays off."""
    use_json_logging(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True

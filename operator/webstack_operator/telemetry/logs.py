"""The operator's logs: the users API's JSON formatter, plus the stack and reconcile a line belongs to.

With many stacks reconciled concurrently, interleaved lines are only useful if each says which stack and which
pass over it produced it: `bind_stack` adds both to every line logged inside it, per asyncio task.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import contextmanager

from webstack_contract.logs import JSONFormatter, bind_log_fields, reset_log_fields, use_json_logging

__all__ = ["bind_stack", "configure_logging"]

# kopf's object loggers attach its whole OperatorSettings (thousands of characters as text, no use to a
# reader) and a flag for its event poster; the object reference is worth keeping, under kopf's JSON key.
_KOPF_INTERNALS = ("settings", "k8s_skip")
_KOPF_RENAMES = {"k8s_ref": "object"}


def configure_logging(verbose: bool) -> None:
    """Every logger, kopf's included, writes JSON lines to stdout; debug lines only when verbose."""
    formatter = JSONFormatter(omit=_KOPF_INTERNALS, rename=_KOPF_RENAMES)
    use_json_logging(logging.DEBUG if verbose else logging.INFO, formatter)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    if not verbose:  # "Handler ... succeeded" for every event and timer tick: failures still show
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)


@contextmanager
def bind_stack(namespace: str, name: str, reconcile_id: str | None = None) -> Iterator[str]:
    """Adds `stack` ("namespace/name") and `reconcile_id` to every line logged inside; yields the id.

    The id (8 random hex digits unless given) tells apart the passes over one stack, e.g. a retry from the
    pass that failed. Bindings live in a contextvar: concurrent reconciles each log their own stack.
    """
    reconcile_id = secrets.token_hex(4) if reconcile_id is None else reconcile_id
    token = bind_log_fields(stack=f"{namespace}/{name}", reconcile_id=reconcile_id)
    try:
        yield reconcile_id
    finally:
        reset_log_fields(token)

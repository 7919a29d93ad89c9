"""kopf glue: every handler hands its event to the Controller and returns.

WebStacks come from kopf (create/update/resume enqueue a reconcile; every event keeps the newest body;
deletion runs the finalizer). Children, discovery and the resync are the Controller's own loops.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any, cast

import kopf

from webstack_operator.api.group_version import GROUP, PLURAL, VERSION
from webstack_operator.controller.wiring import Controller
from webstack_operator.kube import connection
from webstack_operator.reconcile.outcomes import Retry


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf keeps the last handled spec to diff against; we only need to know *that* it changed (the
    reconcile is level-based), so a digest is stored instead: one short annotation whatever the spec size."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        digest = hashlib.sha256(json.dumps(essence, sort_keys=True).encode()).hexdigest()
        return cast(kopf.BodyEssence, {"digest": digest})


@kopf.on.login()
def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf's credentials are our client's (`connection.login`): in a pod, the ServiceAccount; elsewhere,
    any kubeconfig, exec plugins included. kopf calls this again when they expire or get a 401. Explicit,
    so kopf never uses its own fallback login through the `kubernetes` package."""
    try:
        return connection.login(settings)
    except connection.LoginError as e:
        if e.permanent:
            raise kopf.PermanentError(str(e)) from e
        raise kopf.TemporaryError(str(e), delay=10) from e


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """The client and health endpoint come from runtime.py, which opened them before the election."""
    configure_kopf(settings, namespaced=bool(memo.config.namespaces))
    memo.controller = Controller(memo.client, memo.config)
    memo.health.checks.append(memo.controller.problems)
    memo.health.notices.append(memo.controller.watches.forbidden)
    await memo.controller.start()


def configure_kopf(settings: kopf.OperatorSettings, *, namespaced: bool = False) -> None:
    settings.persistence.finalizer = f"{GROUP}/cleanup"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = DigestDiffBaseStorage(prefix=GROUP, key="last-handled-digest")
    # Long watches can stall silently behind load balancers: bound them and reconnect.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 10
    settings.posting.level = logging.WARNING  # our own Events say what happened; kopf's are noise
    settings.networking.request_timeout = 30
    settings.queueing.error_delays = (1, 2, 5, 10, 30, 60)
    # Serving given namespaces, kopf must not follow Namespaces and CRDs (both need cluster-wide list and
    # watch, which namespaced Roles cannot grant): it watches WebStacks in exactly those namespaces, and
    # the WebStack CRD must be installed before the operator starts.
    settings.scanning.disabled = namespaced


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    await memo.controller.close()


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def reconcile(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    memo.controller.stack_seen(dict(body), reconcile=True)


@kopf.on.event(GROUP, VERSION, PLURAL)
async def track_stack(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Keeps the newest body of every WebStack, for reconciles triggered by children and the resync."""
    if type == "DELETED":
        memo.controller.stack_gone((body.metadata.namespace or "", body.metadata.name or ""))
    else:
        memo.controller.stack_seen(dict(body), reconcile=False)


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def finalize(body: kopf.Body, memo: kopf.Memo, retry: int, **_: Any) -> None:
    try:
        await memo.controller.finalize(dict(body), attempt=retry + 1)
    except Retry as e:
        raise kopf.TemporaryError(str(e), delay=e.delay or 1) from e

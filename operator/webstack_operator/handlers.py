"""kopf glue: clients into the memo at startup, then every trigger calls the one reconcile.

Triggers: create/update/resume of a WebStack, any event of an owned child (watched by the managed-by
label, see watch.py), a periodic timer as a safety net, and a change in which optional APIs are served.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
from typing import Any, cast

import kopf
from prometheus_client import start_http_server

from webstack_operator import labels, metrics
from webstack_operator.apply import FIELD_MANAGER, delete_object, list_objects
from webstack_operator.kubeapi import ApiError, KubeClient
from webstack_operator.reconciler import CHILD_KINDS, Controller, TransientError, stack_of
from webstack_operator.runtime import load_operator_settings
from webstack_operator.spec import GROUP, PLURAL, VERSION
from webstack_operator.watch import ChildWatches

log = logging.getLogger("webstack.handlers")

RESYNC_SECONDS = float(os.environ.get("WEBSTACK_RESYNC_SECONDS", "300"))
DISCOVERY_SECONDS = float(os.environ.get("WEBSTACK_DISCOVERY_SECONDS", "60"))
CLEANUP_ATTEMPTS = 5
MANAGED = {labels.MANAGED_BY: labels.MANAGED_BY_VALUE}


class DigestDiffBaseStorage(kopf.AnnotationsDiffBaseStorage):
    """kopf keeps the last handled spec to diff against; we only need to know *that* it changed (the
    reconcile is level-based), so a digest is stored instead: one short annotation whatever the spec size."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        essence = super().build(body=body, extra_fields=extra_fields)
        digest = hashlib.sha256(json.dumps(essence, sort_keys=True).encode()).hexdigest()
        return cast(kopf.BodyEssence, {"digest": digest})


@kopf.on.login()
def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
    """Explicit, so kopf never switches to another client library's login because some package named
    `kubernetes` happens to be importable: in a pod, the ServiceAccount; elsewhere, the kubeconfig."""
    return kopf.login_with_service_account(**kwargs) or kopf.login_with_kubeconfig(**kwargs)


@kopf.on.startup()
async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    settings.persistence.finalizer = f"{GROUP}/cleanup"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = DigestDiffBaseStorage(prefix=GROUP, key="last-handled-digest")
    # Long watches can stall silently behind load balancers: bound them and reconnect.
    settings.watching.server_timeout = 270
    settings.watching.client_timeout = 300
    settings.watching.connect_timeout = 10
    settings.posting.level = logging.WARNING  # our own Events say what happened; kopf's are noise
    settings.networking.request_timeout = 30
    settings.batching.error_delays = (1, 2, 5, 10, 30, 60)
    client = KubeClient.from_environment()
    controller = Controller(client=client, settings=load_operator_settings())
    await controller.refresh_capabilities()
    watches = ChildWatches(client, controller.on_child_event, controller.on_child_resync)
    watches.ensure(controller.child_kinds())
    controller.synced = asyncio.Event()
    memo.controller = controller
    memo.watches = watches
    memo.discovery = asyncio.get_running_loop().create_task(_rediscover(controller, watches))
    memo.initial_sync = asyncio.get_running_loop().create_task(_mark_synced(controller, watches))
    port = int(os.environ.get("WEBSTACK_METRICS_PORT", "8081"))
    if port:
        start_http_server(
            port,
            addr=os.environ.get("WEBSTACK_METRICS_ADDR", "0.0.0.0"),  # noqa: S104 - scraped from outside the pod
            registry=metrics.REGISTRY,
        )
    log.info("started: field manager %s, optional APIs %s", FIELD_MANAGER, controller.capabilities)


async def _mark_synced(controller: Controller, watches: ChildWatches) -> None:
    try:
        await watches.wait_synced(limit=60)
    finally:
        assert controller.synced is not None
        controller.synced.set()


async def _rediscover(controller: Controller, watches: ChildWatches) -> None:
    """Optional APIs come and go (a CRD installed after the operator): look again on a schedule."""
    while True:
        await asyncio.sleep(DISCOVERY_SECONDS)
        try:
            changed = await controller.refresh_capabilities()
            watches.ensure(controller.child_kinds())  # also restarts a watch that died
            if changed:
                controller.enqueue_all()
        except ApiError as e:
            metrics.API_ERRORS.labels(status=str(e.status)).inc()
            log.warning("discovery failed: %s", e)


@kopf.on.cleanup()
async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    for task in (memo.discovery, memo.initial_sync):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await memo.watches.close()
    await memo.controller.close()
    await memo.controller.client.close()


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
async def reconcile(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    try:
        await memo.controller.reconcile(dict(body))
    except TransientError as e:
        raise kopf.TemporaryError(str(e), delay=e.delay) from e


@kopf.on.event(GROUP, VERSION, PLURAL)
async def track_stack(type: str | None, body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Keeps the latest body of every WebStack, for reconciles triggered by children and timers."""
    key = (body.metadata.namespace or "", body.metadata.name or "")
    if type == "DELETED":
        memo.controller.forget(key)
    else:
        memo.controller.stacks[key] = dict(body)


@kopf.timer(GROUP, VERSION, PLURAL, interval=RESYNC_SECONDS, initial_delay=RESYNC_SECONDS, idle=None)
async def resync(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Level-based safety net: a missed watch event is corrected within one interval."""
    memo.controller.enqueue((body.metadata.namespace or "", body.metadata.name or ""))


@kopf.on.delete(GROUP, VERSION, PLURAL)
async def cleanup_cross_namespace(
    body: kopf.Body, memo: kopf.Memo, retry: int, logger: kopf.Logger, **_: Any
) -> None:
    """Owner references clean everything in the namespace; only objects elsewhere (the Velero Schedule)
    need us. Bounded: after a few failed attempts we say so in an Event and let the deletion finish."""
    controller: Controller = memo.controller
    ns, name = body.metadata.namespace or "", body.metadata.name or ""
    try:
        for api_version, kind in CHILD_KINDS:
            resource = controller.client.resource(api_version, kind)
            if resource is None or not resource.namespaced:
                continue
            if kind != "Schedule":
                continue
            selector = ",".join(
                f"{k}={v}" for k, v in {labels.INSTANCE: name, labels.STACK_NAMESPACE: ns, **MANAGED}.items()
            )
            for obj in await list_objects(controller.client, resource, None, selector):
                if stack_of(obj) == (ns, name):
                    await delete_object(
                        controller.client, resource, obj["metadata"]["namespace"], obj["metadata"]["name"]
                    )
                    await controller.post_event(
                        dict(body),
                        "Normal",
                        "Deleted",
                        f"{kind} {obj['metadata']['namespace']}/{obj['metadata']['name']}",
                    )
    except ApiError as e:
        metrics.API_ERRORS.labels(status=str(e.status)).inc()
        if retry + 1 < CLEANUP_ATTEMPTS:
            raise kopf.TemporaryError(f"cleanup failed: {e}", delay=min(30, 2 ** (retry + 1))) from e
        await controller.post_event(
            dict(body),
            "Warning",
            "CleanupAbandoned",
            f"could not delete objects outside the namespace after {CLEANUP_ATTEMPTS} attempts ({e}); "
            f"delete them by hand: selector {labels.INSTANCE}={name},{labels.STACK_NAMESPACE}={ns}",
        )
        logger.warning("cleanup abandoned after %d attempts", CLEANUP_ATTEMPTS)
    finally:
        controller.forget((ns, name))

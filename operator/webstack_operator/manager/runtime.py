"""`webstack-operator run`: logging, metrics and health endpoints, the Lease, then kopf while we lead.

A standby replica runs only the election (and answers `/healthz`); kopf — its watches, its handlers, its
own writes of finalizers and annotations — runs only while this process holds the Lease. When the hold is
lost (another replica took it, or the API server could not be reached to renew it), every write is refused
at once (`KubeClient.may_write`), kopf is stopped, and the process goes back to standby: a single replica
cut off from the API server for a minute resumes by itself when it is back. Going back to standby ends the
term whole: its controller is closed (tasks, watches, caches) and let go, and `/healthz` forgets its checks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from prometheus_client import start_http_server

from webstack_operator.config.run_options import OperatorConfig
from webstack_operator.kube.client import KubeClient
from webstack_operator.kube.lease import LeaderElector, LeaseTiming
from webstack_operator.manager.health import Health, serving
from webstack_operator.manager.kopf_retries import quiet_kopf_retries
from webstack_operator.objects.stamps import FIELD_MANAGER, USER_AGENT
from webstack_operator.telemetry import metrics
from webstack_operator.telemetry.logs import configure_logging

if TYPE_CHECKING:
    import kopf

log = logging.getLogger("webstack.runtime")

KOPF_STOP_SECONDS = 10.0


def run_operator(config: OperatorConfig) -> None:
    """Runs until SIGTERM or SIGINT."""
    configure_logging(config.verbose)
    _quiet_kopf_retries(config.verbose)
    if config.metrics_port:
        start_http_server(config.metrics_port, addr=config.metrics_addr, registry=metrics.REGISTRY)
    sys.exit(asyncio.run(_serve(config)))


def _quiet_kopf_retries(verbose: bool) -> None:
    """kopf logs every retry of its own requests at ERROR (and would post each as an Event): DEBUG here."""
    quiet_kopf_retries(logging.getLogger().handlers, verbose=verbose)


async def _serve(config: OperatorConfig) -> int:
    health = Health()
    # An exec plugin may take seconds: not on the event loop.
    client = await asyncio.to_thread(
        KubeClient.connect,
        field_manager=FIELD_MANAGER,
        user_agent=f"{USER_AGENT}/{config.identity}",
        token_path=config.token_file,
        request_slots=config.request_slots,
    )
    terminate = asyncio.Event()
    _on_signals(terminate.set)
    try:
        async with serving(health, config.liveness_port):
            if not config.leader_election:
                health.role = "leader"
                await _run_kopf(config, client, health, terminate, terminate)
                return 0
            # The election has its own connection: renewals never queue behind a burst of reconciles.
            elector_client = await asyncio.to_thread(
                KubeClient.connect,
                field_manager=FIELD_MANAGER,
                user_agent=f"{USER_AGENT}/{config.identity}/leader-election",
                token_path=config.token_file,
                timeout=LeaseTiming().retry * 2,
            )
            try:
                elector = LeaderElector(
                    elector_client, config.lease_namespace, config.lease_name, config.identity
                )
                client.may_write = elector.may_write
                await _lead_while_elected(config, client, health, elector, terminate)
                await elector.release()
            finally:
                await elector_client.close()
            return 0
    finally:
        await client.close()


async def _lead_while_elected(
    config: OperatorConfig,
    client: KubeClient,
    health: Health,
    elector: LeaderElector,
    terminate: asyncio.Event,
) -> None:
    while not terminate.is_set():
        health.role = "standby"
        if not await _first(elector.acquire(), terminate.wait()):
            return
        health.role = "leader"
        metrics.LEADER.set(1)
        stop = asyncio.Event()
        operator = asyncio.create_task(_run_kopf(config, client, health, stop, terminate))
        lost = asyncio.create_task(elector.hold())
        await asyncio.wait({operator, lost}, return_when=asyncio.FIRST_COMPLETED)
        metrics.LEADER.set(0)
        if not lost.done():  # kopf ended: we were told to stop (or it crashed, raised here)
            lost.cancel()
            await operator
            return
        log.error("lost the leader Lease: writes refused, stopping kopf, back to standby")
        stop.set()
        with contextlib.suppress(TimeoutError, asyncio.CancelledError):
            await asyncio.wait_for(operator, timeout=KOPF_STOP_SECONDS)
        _on_signals(terminate.set)  # kopf's signal handlers pointed at its finished run


async def _run_kopf(
    config: OperatorConfig,
    client: KubeClient,
    health: Health,
    stop: asyncio.Event,
    terminate: asyncio.Event,
) -> None:
    """kopf until `stop` is set. A signal sets both flags: kopf stops through its stop flag (through its
    own signal handling it would wait 5 s for that flag's waiter), and the election releases the lease."""
    import kopf
    from kopf._core.engines import peering  # its identity type, which kopf does not export

    import webstack_operator.controller.handlers  # noqa: F401  (registers the handlers)

    ready = asyncio.Event()
    memo = kopf.Memo(config=config, client=client, health=health)
    operator = asyncio.create_task(
        kopf.operator(
            clusterwide=not config.namespaces,
            namespaces=list(config.namespaces),
            standalone=True,  # leadership is the Lease, not kopf's peering
            # Given, not detected: kopf's detection asks the passwd file for the user's name, and the
            # image's uid (65532, or any uid a platform assigns) has no entry there.
            identity=peering.Identity(config.identity),
            stop_flag=stop,
            ready_flag=ready,
            memo=memo,
        )
    )
    try:
        await _first(ready.wait(), asyncio.shield(operator))
        if ready.is_set():  # kopf installed its signal handlers at start: ours again

            def shutdown() -> None:
                terminate.set()
                stop.set()

            _on_signals(shutdown)
        await operator
    finally:
        await _end_term(memo, health)


async def _end_term(memo: kopf.Memo, health: Health) -> None:
    """However kopf ended (its cleanup handler ran, or it was cancelled for not stopping in time): the
    term's controller is closed and let go, and the replica is a healthy standby again."""
    controller = memo.pop("controller", None)
    health.stand_by()
    if controller is not None:
        await controller.close()


async def _first(wanted: Awaitable[object], other: Awaitable[object]) -> bool:
    """Awaits two awaitables; True when the first finished first (the other is cancelled)."""
    a, b = asyncio.ensure_future(wanted), asyncio.ensure_future(other)
    done, pending = await asyncio.wait({a, b}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    return a in done


def _on_signals(callback: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, callback)

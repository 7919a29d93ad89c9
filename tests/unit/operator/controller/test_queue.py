"""The work queue: debounce, one run per key at a time, re-run when changed meanwhile, backoff, a bound."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable

import pytest
from tests.support.polling import eventually

from webstack_operator.controller.queue import WorkQueue, exponential_backoff
from webstack_operator.reconcile.outcomes import Requeue, Retry
from webstack_operator.telemetry import metric_names, metrics


async def _until(predicate: Callable[[], bool]) -> None:
    async def probe() -> bool:
        return predicate()

    await eventually(probe, until=bool, within=5, what="the queue's state")


async def test_a_burst_for_one_key_runs_once() -> None:
    calls: list[tuple[str, int]] = []

    async def work(key: str, attempt: int) -> None:
        calls.append((key, attempt))

    queue: WorkQueue[str] = WorkQueue(work, debounce=0.01)
    queue.start()
    for _ in range(20):
        queue.enqueue("a")
    queue.enqueue("b")
    await _until(lambda: len(calls) == 2 and len(queue) == 0)
    await asyncio.sleep(0.05)
    assert sorted(calls) == [("a", 1), ("b", 1)]
    await queue.close()


async def test_keys_wait_until_the_queue_starts() -> None:
    calls: list[str] = []

    async def work(key: str, attempt: int) -> None:
        calls.append(key)

    queue: WorkQueue[str] = WorkQueue(work, debounce=0)
    queue.enqueue("a")
    await asyncio.sleep(0.02)
    assert calls == []
    queue.start()
    await _until(lambda: calls == ["a"])
    await queue.close()


async def test_one_key_never_runs_twice_at_once_and_runs_again_when_enqueued_meanwhile() -> None:
    running, most, calls = 0, 0, 0
    release = asyncio.Event()

    async def work(key: str, attempt: int) -> None:
        nonlocal running, most, calls
        running += 1
        most = max(most, running)
        calls += 1
        if calls == 1:
            await release.wait()
        running -= 1

    queue: WorkQueue[str] = WorkQueue(work, debounce=0, concurrency=4)
    queue.start()
    queue.enqueue("a")
    await _until(lambda: calls == 1)
    queue.enqueue("a")  # changed while running
    queue.enqueue("a")
    await asyncio.sleep(0.02)
    assert calls == 1
    release.set()
    await _until(lambda: calls == 2 and len(queue) == 0)
    await asyncio.sleep(0.02)
    assert (most, calls) == (1, 2)
    await queue.close()


async def test_failures_come_back_with_backoff_and_reset_on_success() -> None:
    attempts: list[int] = []
    delays: list[int] = []

    async def work(key: str, attempt: int) -> None:
        attempts.append(attempt)
        if attempt < 3:
            raise Retry("apiserver unavailable")

    def backoff(failures: int) -> float:
        delays.append(failures)
        return 0.01

    queue: WorkQueue[str] = WorkQueue(work, debounce=0, backoff=backoff)
    queue.start()
    queue.enqueue("a")
    await _until(lambda: attempts == [1, 2, 3])
    assert delays == [1, 2]
    assert queue.failures("a") == 0
    queue.enqueue("a")
    await _until(lambda: attempts == [1, 2, 3, 1, 2, 3])  # a fresh run starts again at attempt 1
    await queue.close()


async def test_an_unexpected_exception_is_retried_after_backoff_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """As controller-runtime requeues every error: a bug in one reconcile is not dropped until the resync."""
    loop = asyncio.get_running_loop()
    runs: list[tuple[float, int]] = []
    backoffs: list[int] = []

    async def work(key: str, attempt: int) -> None:
        runs.append((loop.time(), attempt))
        if attempt < 3:
            raise RuntimeError("bug")

    def backoff(failures: int) -> float:
        backoffs.append(failures)
        return 0.1

    before = _exceptions()
    queue: WorkQueue[str] = WorkQueue(work, debounce=0, backoff=backoff)
    queue.start()
    queue.enqueue("a")
    await _until(lambda: len(runs) == 3 and len(queue) == 0)
    assert [attempt for _, attempt in runs] == [1, 2, 3]
    assert backoffs == [1, 2]  # rate-limited like any failure, per key
    assert all(b[0] - a[0] >= 0.1 for a, b in itertools.pairwise(runs))
    assert _exceptions() == before + 2
    assert queue.failures("a") == 0
    assert "bug" in caplog.text and "Traceback" in caplog.text
    await queue.close()


def _exceptions() -> float:
    value = metrics.REGISTRY.get_sample_value(metric_names.RECONCILE_EXCEPTIONS_TOTAL)
    return value or 0.0


async def test_concurrency_is_bounded_across_keys() -> None:
    running, most = 0, 0

    async def work(key: int, attempt: int) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1

    queue: WorkQueue[int] = WorkQueue(work, debounce=0, concurrency=3)
    queue.start()
    for key in range(20):
        queue.enqueue(key)
    await _until(lambda: len(queue) == 0)
    assert most == 3
    await queue.close()


async def test_forget_drops_a_waiting_key_and_its_failures() -> None:
    calls: list[str] = []

    async def work(key: str, attempt: int) -> None:
        calls.append(key)

    queue: WorkQueue[str] = WorkQueue(work, debounce=0.05)
    queue.start()
    queue.enqueue("a")
    queue.forget("a")
    await asyncio.sleep(0.1)
    assert calls == []
    assert len(queue) == 0
    await queue.close()


async def test_a_sooner_request_wins_over_a_later_one() -> None:
    calls: list[str] = []

    async def work(key: str, attempt: int) -> None:
        calls.append(key)

    queue: WorkQueue[str] = WorkQueue(work, debounce=0)
    queue.start()
    queue.enqueue("a", delay=60)
    queue.enqueue("a")
    await _until(lambda: calls == ["a"])
    await queue.close()


def test_exponential_backoff_doubles_up_to_a_minute_with_jitter() -> None:
    for n, base in ((1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (30, 60.0)):
        delays = {exponential_backoff(n) for _ in range(50)}
        assert all(0.8 * base <= d <= 1.2 * base for d in delays), (n, delays)
        assert len(delays) > 1  # jittered


async def test_a_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    loop = asyncio.get_running_loop()
    runs: list[float] = []

    async def work(key: str, attempt: int) -> None:
        runs.append(loop.time())
        if attempt == 1:
            raise Retry("429 Too Many Requests", delay=0.3)

    queue: WorkQueue[str] = WorkQueue(work, debounce=0, backoff=lambda n: 0.01)
    queue.start()
    queue.enqueue("a")
    await _until(lambda: len(runs) == 2)
    assert runs[1] - runs[0] >= 0.3
    await queue.close()


async def test_a_requeue_comes_back_after_its_delay_and_counts_no_failure() -> None:
    loop = asyncio.get_running_loop()
    runs: list[tuple[float, int]] = []

    async def work(key: str, attempt: int) -> None:
        runs.append((loop.time(), attempt))
        if len(runs) < 3:
            raise Requeue("a user's Service holds the name", delay=0.2)

    queue: WorkQueue[str] = WorkQueue(work, debounce=0, backoff=lambda n: 0.01)
    queue.start()
    queue.enqueue("a")
    await _until(lambda: len(runs) == 3)
    assert [attempt for _, attempt in runs] == [1, 1, 1]
    assert runs[1][0] - runs[0][0] >= 0.2 and runs[2][0] - runs[1][0] >= 0.2
    assert queue.failures("a") == 0
    await queue.close()


async def test_a_trigger_during_a_retry_after_waits_for_it() -> None:
    """The resync or a child's event may bring a retry forward, but not before the server's Retry-After."""
    loop = asyncio.get_running_loop()
    runs: list[float] = []

    async def work(key: str, attempt: int) -> None:
        runs.append(loop.time())
        if attempt == 1:
            raise Retry("429 Too Many Requests", delay=0.5)

    queue: WorkQueue[str] = WorkQueue(work, debounce=0, backoff=lambda n: 0.01)
    queue.start()
    queue.enqueue("a")
    await _until(lambda: len(runs) == 1)
    queue.enqueue("a")  # the resync ticks meanwhile
    await _until(lambda: len(runs) == 2)
    assert runs[1] - runs[0] >= 0.5
    queue.enqueue("a")  # after a success, a trigger runs at once again
    await _until(lambda: len(runs) == 3)
    await queue.close()


async def test_exclusive_work_waits_for_the_run_in_flight_and_holds_new_runs_back() -> None:
    """The finalizer's way in: one serialisation point per key, shared with the reconciles."""
    log: list[str] = []
    reconciling, release, finalizing = asyncio.Event(), asyncio.Event(), asyncio.Event()
    finish = asyncio.Event()

    async def work(key: str, attempt: int) -> None:
        log.append("reconcile started")
        reconciling.set()
        await release.wait()
        log.append("reconcile wrote")

    async def finalizer() -> str:
        log.append("finalizer started")
        finalizing.set()
        await finish.wait()
        log.append("finalizer done")
        return "done"

    queue: WorkQueue[str] = WorkQueue(work, debounce=0, concurrency=4)
    queue.start()
    queue.enqueue("a")
    await reconciling.wait()
    exclusive = asyncio.create_task(queue.exclusive("a", finalizer))
    await asyncio.sleep(0.05)
    assert log == ["reconcile started"]  # waits for the reconcile in flight
    release.set()
    await finalizing.wait()
    queue.enqueue("a")  # a child's event while the finalizer works
    await asyncio.sleep(0.05)
    assert log == ["reconcile started", "reconcile wrote", "finalizer started"]
    assert len(queue) == 1  # held, counted
    finish.set()
    assert await exclusive == "done"
    await _until(lambda: log.count("reconcile started") == 2)  # only after it: the reconcile decides
    assert log[:4] == ["reconcile started", "reconcile wrote", "finalizer started", "finalizer done"]
    await queue.close()


async def test_a_key_forgotten_while_it_runs_is_not_retried() -> None:
    """A stack deleted during its reconcile: the failure of that run brings no ghost run back."""
    runs: list[int] = []
    release = asyncio.Event()

    async def work(key: str, attempt: int) -> None:
        runs.append(attempt)
        await release.wait()
        raise Retry("apiserver unavailable")

    queue: WorkQueue[str] = WorkQueue(work, debounce=0, backoff=lambda n: 0.01)
    queue.start()
    queue.enqueue("a")
    await _until(lambda: runs == [1])
    queue.forget("a")
    release.set()
    await _until(lambda: len(queue) == 0)
    await asyncio.sleep(0.05)
    assert runs == [1]
    assert queue.failures("a") == 0
    await queue.close()

"""Events that aggregate: the same Event about the same object is written at most once a minute.

A fight with another writer (someone scaling a Deployment back every few seconds, a controller rewriting a
field we own) makes every reconcile say the same thing; so does a failure retried with backoff. Posting a
new Event each time costs the apiserver one write per repeat and buries everything else in
`kubectl describe`. This is client-go's EventCorrelator in small:

- the key is (involved object, type, reason, message). The message is in the key because ours name the child
  they are about ("Deployment shop-backend was changed by someone else"): two children fought over are two
  Events, and Events about different children of one reason (three Pruned objects) are never merged away;
- the first occurrence is POSTed; repeats within `WINDOW_SECONDS` of the last write are only counted;
- the first repeat after the window PATCHes the same Event: `count` (all occurrences so far) and
  `lastTimestamp` — what `kubectl get events` shows as "x5 over 3m". If that Event is gone (Events expire
  after an hour), a new one is posted.

So a fight writes at most one Event per object, reason and minute. The price: repeats held back are only
written with the next repeat after the window; if none comes, the Event's count stays at its last write.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from webstack_operator.apply import bump_event, post_event
from webstack_operator.kubeapi import JSON, ApiError, KubeClient

WINDOW_SECONDS = 60.0
FORGET_AFTER_SECONDS = 600.0  # a key not written for this long is dropped: memory follows what is recent
EventKey = tuple[str, str, str, str]  # involved object's uid, type, reason, message


@dataclass
class _Series:
    """One Event as written, and the repeats since."""

    namespace: str
    name: str  # "" while its POST is in flight
    count: int  # as written
    written_at: float  # clock time of the last write
    held: int = 0  # repeats not written yet


def event_key(involved: JSON, etype: str, reason: str, message: str) -> EventKey:
    meta = involved["metadata"]
    who = meta.get("uid") or f"{meta.get('namespace')}/{meta['name']}"
    return (who, etype, reason, message[:1024])


class EventRecorder:
    """Writes Events through `client`, aggregated per key (see the module's docstring)."""

    def __init__(
        self,
        client: KubeClient,
        instance: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        window: float = WINDOW_SECONDS,
    ) -> None:
        self.client = client
        self.instance = instance
        self.clock = clock
        self.window = window
        self._series: dict[EventKey, _Series] = {}

    async def record(self, involved: JSON, etype: str, reason: str, message: str, *, now: str) -> None:
        """`now`: the RFC 3339 time the Event shows. Raises the ApiError of a write that failed."""
        key, at = event_key(involved, etype, reason, message), self.clock()
        self._forget_old(at)
        series = self._series.get(key)
        if series is not None and at - series.written_at < self.window:
            series.held += 1
            return
        if series is not None and series.name:
            count = series.count + series.held + 1
            series.written_at, series.held = at, 0  # before the await: a concurrent repeat is held
            try:
                await bump_event(self.client, series.namespace, series.name, count, now=now)
                series.count = count
                return
            except ApiError as e:
                if e.status != 404:
                    raise
        await self._post(key, involved, etype, reason, message, now=now, at=at)

    async def _post(
        self, key: EventKey, involved: JSON, etype: str, reason: str, message: str, *, now: str, at: float
    ) -> None:
        series = _Series(involved["metadata"].get("namespace", ""), "", 1, at)
        self._series[key] = series
        try:
            created = await post_event(
                self.client, involved, etype, reason, message, now=now, instance=self.instance
            )
        except ApiError:
            del self._series[key]  # not written: the next occurrence tries again
            raise
        series.name = str(created.get("metadata", {}).get("name", ""))

    def _forget_old(self, at: float) -> None:
        for key in [k for k, s in self._series.items() if at - s.written_at > FORGET_AFTER_SECONDS]:
            del self._series[key]

    def __len__(self) -> int:
        return len(self._series)

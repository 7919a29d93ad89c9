"""Events that aggregate: the same Event about the same object is posted at most once a minute.

A fight with another writer (someone scaling a Deployment back every few seconds, a controller rewriting a
field we own) makes every reconcile say the same thing; so does a failure retried with backoff. Posting a
new Event each time costs the apiserver one write per repeat and buries everything else in
`kubectl describe`. So, per key, a rate limit that counts what it holds back (client-go's EventCorrelator
dedups on the same key):

- the key is (involved object, type, reason, message). The message is in the key because ours name the child
  they are about ("Deployment shop-backend was changed by someone else"): two children fought over are two
  Events, and Events about different children of one reason (three Pruned objects) are never merged away;
- the first occurrence is posted; repeats within `WINDOW_SECONDS` of the last post are only counted;
- the first repeat after the window posts one Event standing for them all: `count` (the repeats since the
  last post, this one included) and `firstTimestamp` (the first of them), which `kubectl get events` shows
  as "x5 over 50s".

Only reasons that a fight or a retry repeats with nothing changed are limited (`REPEATING`: what a write
or a prune did, a reconcile that failed). Every other Event is already said once per change by its caller
(an invalid generation, data let go, a canary started, a missing prerequisite): a repeat of it within a
minute is a new change (a spec broken again the same way, a database let go a second time), so it is
always posted.

A rate limit rather than a series (PATCHing one Event's count): it needs no `patch` grant on Events, and an
Event expired from the apiserver (after an hour) needs no special case. The price: repeats held back are
posted only with the next repeat after the window; if none comes, they are only counted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from webstack_operator.kube.apply import post_event
from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.kube.jsondata import JSON

WINDOW_SECONDS = 60.0
FORGET_AFTER_SECONDS = 600.0  # a key not posted for this long is dropped: memory follows what is recent
EventKey = tuple[str, str, str, str]  # involved object's uid, type, reason, message
# What the caller's writes and prunes say (a re-creation is said as DriftCorrected), and a failure reported.
REPEATING = frozenset({"Created", "Updated", "DriftCorrected", "Adopted", "Pruned", "ReconcileFailed"})


@dataclass
class _Held:
    """When the key was last posted, and the repeats held back since."""

    posted_at: float  # clock time
    count: int = 0
    first: str = ""  # the RFC 3339 time of the first repeat held back


def event_key(involved: JSON, etype: str, reason: str, message: str) -> EventKey:
    meta = involved["metadata"]
    who = meta.get("uid") or f"{meta.get('namespace')}/{meta['name']}"
    return (who, etype, reason, message[:1024])


class EventRecorder:
    """Posts Events through `client`, at most one per key and window (see the module's docstring)."""

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
        self._held: dict[EventKey, _Held] = {}

    async def record(self, involved: JSON, etype: str, reason: str, message: str, *, now: str) -> None:
        """`now`: the RFC 3339 time the Event shows. Raises the ApiError of a post that failed (what it
        stood for is then held for the next occurrence)."""
        if reason not in REPEATING:
            await post_event(self.client, involved, etype, reason, message, now=now, instance=self.instance)
            return
        key, at = event_key(involved, etype, reason, message), self.clock()
        self._forget_old(at)
        held = self._held.get(key)
        if held is not None and at - held.posted_at < self.window:
            held.count, held.first = held.count + 1, held.first or now
            return
        count, first = (held.count + 1, held.first or now) if held is not None else (1, now)
        self._held[key] = _Held(posted_at=at)  # before the await: a concurrent repeat is held, not posted
        try:
            await post_event(
                self.client,
                involved,
                etype,
                reason,
                message,
                now=now,
                instance=self.instance,
                count=count,
                first=first,
            )
        except ApiError:
            if held is None:
                del self._held[key]  # nothing was posted: the next occurrence tries again at once
            else:
                self._held[key] = _Held(held.posted_at, count, first)
            raise

    def _forget_old(self, at: float) -> None:
        for key in [k for k, h in self._held.items() if at - h.posted_at > FORGET_AFTER_SECONDS]:
            del self._held[key]

    def __len__(self) -> int:
        return len(self._held)

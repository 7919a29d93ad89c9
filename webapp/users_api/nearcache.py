"""This replica's near cache: encoded bodies in memory, in front of Redis, so a hit costs no round trip.

Safe only while invalidations reach it. `invalidation.py` keeps a Redis connection that hears every change of
`users:version` (every write's INCR, and one by hand); the cache is `active` only while that connection is
up, and every message, every loss of it, and every local write `clear()`s it.

The race a near cache must not lose: a read that fetched an old body before an invalidation must not store it
after the invalidation cleared the cache. Each `clear()` bumps `generation`; a reader captures it before it
asks Redis, and `put()` refuses when it changed meanwhile.

Bounded three ways: entries, bytes (body + key + a fixed overhead per entry), and age (an entry expires at the
time its Redis copy does, on the monotonic clock). Eviction is first-in first-out, not LRU: a hit is then one
dict lookup and a clock read, with nothing reordered, and entries live at most one TTL anyway (every write
empties the whole cache), so recency buys little.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# What one entry costs beyond its body and key: the Entry object, its dict slot, the bytes objects' headers.
ENTRY_OVERHEAD_BYTES = 200


@dataclass(frozen=True, slots=True)
class Entry:
    body: bytes
    expires_at: float
    size: int


class NearCache:
    def __init__(
        self, *, max_entries: int, max_bytes: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if max_entries < 1 or max_bytes < 1:
            raise ValueError("max_entries and max_bytes must be positive")
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._clock = clock
        self._entries: dict[str, Entry] = {}  # insertion order is eviction order
        self._bytes = 0
        self.generation = 0
        self.active = False

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> bytes | None:
        """The body under `key`, unless absent or expired. Empty (so None) whenever inactive."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            self._remove(key)
            return None
        return entry.body

    def put(self, key: str, body: bytes, *, expires_at: float, generation: int) -> bool:
        """Keep `body` until `expires_at`, if no invalidation happened since the caller read `generation`."""
        if not self.active or generation != self.generation or expires_at <= self._clock():
            return False
        size = len(body) + len(key) + ENTRY_OVERHEAD_BYTES
        if size > self.max_bytes:
            return False
        if key in self._entries:
            self._remove(key)
        while self._entries and (
            len(self._entries) >= self.max_entries or self._bytes + size > self.max_bytes
        ):
            self._remove(next(iter(self._entries)))
        self._entries[key] = Entry(body, expires_at, size)
        self._bytes += size
        return True

    def clear(self) -> None:
        """Drop every entry; reads that began before this will not store what they fetched."""
        self.generation += 1
        self._entries.clear()
        self._bytes = 0

    def activate(self) -> None:
        """Invalidations are being heard (again): start empty, since any could have been missed until now."""
        self.clear()
        self.active = True

    def deactivate(self) -> None:
        """Invalidations can no longer be heard: empty, and take nothing until `activate`."""
        self.active = False
        self.clear()

    def _remove(self, key: str) -> None:
        entry = self._entries.pop(key)
        self._bytes -= entry.size

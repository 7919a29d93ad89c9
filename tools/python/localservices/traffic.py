"""Steady, light traffic on the users API: what the demo's dashboard and alerts are about.

Mostly cached reads (a list page and a few popular users), with a write now and then that reaches Postgres
and invalidates the cache (every entry: cache.py versions them), spread over the backend's stand-ins in
turn, as the backend Service spreads them over pods. Read-heavy as a users API is, so the cache hit ratio
stays well above the alert's threshold. Failures are counted, never raised: when Postgres is stopped the
writes and uncached reads answer 503, which is what the alerts are expected to see.
"""

from __future__ import annotations

import collections
import itertools
import json
import threading
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence

WRITE_EVERY = 60  # rounds; each round is a list read and a user read
HOT_USERS = 5  # the users read again and again: the first ones the traffic creates


class Traffic:
    def __init__(self, urls: Sequence[str], *, interval: float = 0.25) -> None:
        self.urls = list(urls)
        self.interval = interval
        self.statuses: collections.Counter[int] = collections.Counter()
        self._ids: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="demo-traffic", daemon=True)

    def start(self) -> Traffic:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _request(self, url: str, method: str = "GET", body: bytes | None = None) -> bytes:
        request = urllib.request.Request(  # noqa: S310 - loopback http only
            url, data=body, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - loopback
                self.statuses[response.status] += 1
                return bytes(response.read())
        except urllib.error.HTTPError as e:
            self.statuses[e.code] += 1
        except OSError:
            self.statuses[0] += 1  # no answer at all
        return b""

    def _run(self) -> None:
        servers = itertools.cycle(self.urls)
        for round_number in itertools.count():
            if self._stop.wait(self.interval):
                return
            base = next(servers)
            self._request(f"{base}/api/users?limit=5")
            if self._ids:
                self._request(f"{base}/api/users/{self._ids[round_number % len(self._ids)]}")
            if round_number % WRITE_EVERY == 0 or len(self._ids) < HOT_USERS:
                email = f"traffic-{uuid.uuid4().hex[:8]}@example.com"
                created = self._request(
                    f"{base}/api/users", "POST", json.dumps({"email": email, "name": "Demo Traffic"}).encode()
                )
                if created and len(self._ids) < HOT_USERS:
                    self._ids.append(int(json.loads(created)["id"]))

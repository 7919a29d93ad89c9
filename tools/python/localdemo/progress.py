"""What the demo prints as it goes: a line per step with its time since the start, and a live view of the
WebStack's conditions and Events until it is Ready."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from kubelocal.target import KubeTarget
from kubelocal.wait import Timeout, eventually

T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[demo {time.monotonic() - T0:6.1f}s] {message}", flush=True)


def step(title: str, fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    say(f"{title} ...")
    result = fn()
    say(f"{title}: done in {time.monotonic() - started:.1f}s")
    return result


def watch_until_ready(cluster: KubeTarget, ns: str, name: str, timeout: float = 240) -> dict[str, Any]:
    """A live view: every condition change and every Event, as they happen, until Ready."""
    seen_conditions: dict[str, tuple[str, str]] = {}
    seen_events: set[str] = set()

    def show_changes() -> dict[str, Any]:
        ws = json.loads(cluster.kubectl("get", "webstack", name, "-n", ns, "-o", "json").stdout)
        for c in (ws.get("status") or {}).get("conditions") or []:
            now = (c["status"], c.get("reason", ""))
            if seen_conditions.get(c["type"]) != now:
                seen_conditions[c["type"]] = now
                reason, message = c.get("reason", ""), c.get("message", "")
                say(f"  condition {c['type']:<20} {c['status']:<5} {reason}: {message}")
        events = json.loads(
            cluster.kubectl(
                "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}", "-o", "json"
            ).stdout
        )
        for e in sorted(events["items"], key=lambda e: e["metadata"]["creationTimestamp"]):
            if e["metadata"]["uid"] not in seen_events:
                seen_events.add(e["metadata"]["uid"])
                say(f"  event     {e['type']:<8} {e['reason']:<16} {e.get('message', '')}")
        return dict(ws)

    def ready(ws: dict[str, Any]) -> bool:
        status = ws.get("status") or {}
        return bool(
            status.get("phase") == "Ready"
            and status.get("observedGeneration") == ws["metadata"]["generation"]
        )

    try:
        ws = eventually(
            show_changes, until=ready, timeout=timeout, interval=0.5, what="the demo WebStack Ready"
        )
    except Timeout as e:
        raise SystemExit(str(e)) from None
    say(f"  phase Ready, components {ws['status'].get('readyComponents')}")
    return ws


def curl_twice(url: str) -> None:
    """The same read twice: the cache's miss, then its hit."""
    for attempt in (1, 2):
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback or the lab's ClusterIP
            cache = r.headers.get("X-Cache")
            say(f"  curl -si {url}  (request {attempt})  ->  HTTP {r.status}, X-Cache: {cache}")

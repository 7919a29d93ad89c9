"""Watching what a stack serves, event by event: a list+watch kept as the current set of objects, with a
measure recorded after each event, so a test reads every moment rather than the ones a poll happened to
catch (tests/integration/operator/test_transitions.py)."""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable
from typing import Any

from kubelocal.target import KubeTarget


class Watched:
    """One list+watch of a path (`kubectl get --raw PATH?watch=1`: the apiserver first sends an ADDED event
    for every object that exists, then every change), kept as the current set of objects. After each event
    `measure` is called with that set and its result is recorded: the test reads every moment."""

    def __init__(self, cluster: KubeTarget, path: str, measure: Callable[[dict[str, Any]], Any]) -> None:
        self.measure = measure
        self.objects: dict[str, Any] = {}
        self.seen: list[Any] = []
        self.errors: list[str] = []
        separator = "&" if "?" in path else "?"
        self._proc = subprocess.Popen(
            [
                str(cluster.kubectl_path),
                f"--kubeconfig={cluster.kubeconfig_path}",
                "get",
                "--raw",
                f"{path}{separator}watch=1&timeoutSeconds=600",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            event = json.loads(line)
            obj = event["object"]
            if event["type"] == "ERROR":
                self.errors.append(str(obj))
                continue
            meta = obj.get("metadata") or {}
            key = f"{meta.get('namespace')}/{obj.get('kind')}/{meta.get('name')}"
            with self._lock:
                if event["type"] == "DELETED":
                    self.objects.pop(key, None)
                elif event["type"] in ("ADDED", "MODIFIED"):
                    self.objects[key] = obj
                self.seen.append(self.measure(dict(self.objects)))

    def snapshot(self) -> list[Any]:
        with self._lock:
            return list(self.seen)

    def stop(self) -> list[Any]:
        self._proc.terminate()
        self._proc.wait(timeout=10)
        self._thread.join(timeout=10)
        assert self._proc.stdout is not None
        self._proc.stdout.close()
        assert not self.errors, self.errors
        return self.snapshot()


def ready_pods(objects: dict[str, Any]) -> int:
    """Backend pods that serve: Ready, and not on their way out."""
    return sum(
        1
        for pod in objects.values()
        if not pod["metadata"].get("deletionTimestamp")
        and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pod.get("status") or {}).get("conditions") or []
        )
    )


def ready_endpoints(objects: dict[str, Any]) -> int:
    return sum(
        1
        for eps in objects.values()
        for endpoint in eps.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready") is True
    )


def never_zero(seen: list[int]) -> list[int]:
    """The counts from the first moment something served on: none of them may be 0."""
    started = next((i for i, n in enumerate(seen) if n > 0), len(seen))
    return seen[started:]

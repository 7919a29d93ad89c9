"""A host Prometheus kept on a stack's live backend pods: its scrape configs re-derived, as pods come and go,
from the live ServiceMonitor, Services and Pods, the pods' own IPs as targets (the lab's real node: the host
routes its pod range). What the Prometheus Operator's reconcile of a ServiceMonitor does, for a test.

A thread, because a canary's pods appear and go while the test waits on the Rollout: the canary's pod must
be a target before its first measurement, whichever step the test is waiting on then.
"""

from __future__ import annotations

import json
import threading
from types import TracebackType
from typing import Any

from kubelocal.target import KubeTarget
from localservices import PrometheusServer
from localservices.scrape import scrape_configs

JSON = dict[str, Any]


class LiveScrape:
    """`with LiveScrape(cluster, prometheus, namespace, stack):` keeps `prometheus` scraping the stack's
    backend pods (ServiceMonitor `<stack>-backend`), re-derived every `every` seconds and reloaded only
    when the targets changed. An error in the thread is raised when the block ends, or by `check()`."""

    def __init__(
        self,
        cluster: KubeTarget,
        prometheus: PrometheusServer,
        namespace: str,
        stack: str,
        every: float = 2.0,
    ) -> None:
        self.cluster, self.prometheus, self.namespace, self.stack = cluster, prometheus, namespace, stack
        self.every = every
        self.reloads = 0
        self.configs: list[JSON] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def derive(self) -> list[JSON]:
        """The scrape configs for the pods as they are now: one read of the ServiceMonitor, Services and
        Pods together, so the three agree. Terminating pods stay targets until they have no IP."""
        listed = json.loads(
            self.cluster.kubectl(
                "get", "servicemonitors,services,pods", "-n", self.namespace, "-o", "json"
            ).stdout
        )
        items: list[JSON] = listed["items"]
        [monitor] = [
            i
            for i in items
            if i["kind"] == "ServiceMonitor" and i["metadata"]["name"] == f"{self.stack}-backend"
        ]
        services = [i for i in items if i["kind"] == "Service"]
        pods = [i for i in items if i["kind"] == "Pod" and i.get("status", {}).get("phase") == "Running"]
        return scrape_configs(monitor, services, pods)

    def refresh(self) -> bool:
        """Re-derive; reload Prometheus when the targets changed. True when it reloaded."""
        configs = self.derive()
        if configs == self.configs:
            return False
        self.prometheus.configure(scrape_configs=configs)
        self.configs = configs
        self.reloads += 1
        return True

    def targets(self) -> dict[str, str]:
        """Pod name -> its `rollouts_pod_template_hash` label, as Prometheus is told now."""
        return {
            s["labels"]["pod"]: s["labels"].get("rollouts_pod_template_hash", "")
            for c in self.configs
            for s in c["static_configs"]
        }

    def check(self) -> None:
        if self._error is not None:
            raise RuntimeError(
                f"keeping Prometheus on the live pods failed: {self._error!r}"
            ) from self._error

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            try:
                self.refresh()
            except Exception as e:  # kept for the test's thread, which raises it
                self._error = e
                return

    def __enter__(self) -> LiveScrape:
        self.refresh()  # the first derivation in the caller's thread: a wrong selector fails here, loudly
        self._thread = threading.Thread(target=self._run, name="live-scrape", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)
        if exc is None:
            self.check()

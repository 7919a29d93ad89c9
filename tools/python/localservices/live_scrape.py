"""A host Prometheus kept on live pods: its scrape configs re-derived, as pods come and go, from the live
ServiceMonitors, Services and Pods, the pods' own IPs as targets (the lab's real node: the host routes its
pod range). What the Prometheus Operator's reconcile of a ServiceMonitor does, for a test or the demo.

A thread, because a canary's pods appear and go while a test waits on the Rollout: the canary's pod must
be a target before its first measurement, whichever step the test is waiting on then.
"""

from __future__ import annotations

import json
import threading
from types import TracebackType
from typing import Any

from kubelocal.target import KubeTarget
from localservices.prometheus import PrometheusServer
from localservices.scrape import scrape_configs

JSON = dict[str, Any]


class LiveScrape:
    """`with LiveScrape(cluster, prometheus, namespace, stack):` keeps `prometheus` scraping the stack's
    backend pods (ServiceMonitor `<stack>-backend`), and the pods of any `more` ServiceMonitors (namespace,
    name), re-derived every `every` seconds and reloaded only when the targets changed. An error in the
    thread is raised when the block ends, or by `check()`."""

    def __init__(
        self,
        cluster: KubeTarget,
        prometheus: PrometheusServer,
        namespace: str,
        stack: str,
        every: float = 2.0,
        more: tuple[tuple[str, str], ...] = (),
        rules: dict[str, JSON] | None = None,
    ) -> None:
        self.cluster, self.prometheus, self.namespace, self.stack = cluster, prometheus, namespace, stack
        self.monitors = ((namespace, f"{stack}-backend"), *more)
        self.every = every
        self.rules = rules  # kept on every reload: `configure` replaces the rules too
        self.reloads = 0
        self.configs: list[JSON] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def derive(self) -> list[JSON]:
        """The scrape configs for the pods as they are now: one read per namespace of its ServiceMonitors,
        Services and Pods together, so the three agree. Terminating pods stay targets until they have no
        IP."""
        configs: list[JSON] = []
        for namespace in dict.fromkeys(ns for ns, _ in self.monitors):
            listed = json.loads(
                self.cluster.kubectl(
                    "get", "servicemonitors,services,pods", "-n", namespace, "-o", "json"
                ).stdout
            )
            items: list[JSON] = listed["items"]
            services = [i for i in items if i["kind"] == "Service"]
            pods = [i for i in items if i["kind"] == "Pod" and i.get("status", {}).get("phase") == "Running"]
            for monitor_ns, name in self.monitors:
                if monitor_ns != namespace:
                    continue
                [monitor] = [
                    i for i in items if i["kind"] == "ServiceMonitor" and i["metadata"]["name"] == name
                ]
                configs += scrape_configs(monitor, services, pods)
        return configs

    def refresh(self) -> bool:
        """Re-derive; reload Prometheus when the targets changed. True when it reloaded."""
        configs = self.derive()
        if configs == self.configs:
            return False
        self.prometheus.configure(scrape_configs=configs, rules=self.rules)
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

    def start(self) -> LiveScrape:
        self.refresh()  # the first derivation in the caller's thread: a wrong selector fails here, loudly
        self._thread = threading.Thread(target=self._run, name="live-scrape", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def __enter__(self) -> LiveScrape:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        if exc is None:
            self.check()

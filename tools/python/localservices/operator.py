"""The operator as it runs in a cluster, started as a local process: `webstack-operator run`.

Shared by the tests, the demo and the benchmarks, so all three run the exact command of the image.
"""

from __future__ import annotations

import os
import re
import urllib.request
from pathlib import Path
from typing import Self

from kubelocal.process import Supervised, free_port, wait_for
from localservices.server import LOOPBACK, console_script


def operator_command() -> list[str]:
    """The same command the operator image runs (Dockerfile.operator's ENTRYPOINT), from this venv."""
    return [console_script("webstack-operator"), "run"]


class OperatorProcess(Supervised):
    """Runs the operator against a kubeconfig; logs to a file shown when a test fails."""

    def __init__(
        self,
        kubeconfig: Path,
        log_dir: Path,
        *,
        env: dict[str, str] | None = None,
        namespaces: tuple[str, ...] = (),
    ) -> None:
        super().__init__("operator", [], log_dir / f"operator-{os.getpid()}-{free_port()}.log", grace=30)
        self.kubeconfig = kubeconfig
        self.extra_env = env or {}
        self.namespaces = namespaces
        self.metrics_port = 0
        self.liveness_port = 0

    def start(self) -> Self:
        """Starts on fresh ports and returns once /healthz answers (a restart is another start())."""
        self.metrics_port, self.liveness_port = free_port(), free_port()
        self.argv = [
            *operator_command(),
            f"--liveness-port={self.liveness_port}",
            f"--metrics-port={self.metrics_port}",
            *(f"--namespace={ns}" for ns in self.namespaces),
        ]
        self.env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "WEBSTACK_METRICS_ADDR": LOOPBACK,
            "WEBSTACK_DISCOVERY_SECONDS": "5",
            **self.extra_env,
        }
        super().start()
        wait_for(self, self._healthy, timeout=60, what=f"operator liveness (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.liveness_port}/healthz", timeout=2) as r:
            return bool(r.status == 200)

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels` (0 when absent)."""
        with urllib.request.urlopen(f"http://{LOOPBACK}:{self.metrics_port}/metrics", timeout=5) as r:
            return parse_metric(r.read().decode(), name, **labels)


# One sample line of the text format: `name{label="value",...} value [timestamp]`.
_SAMPLE = re.compile(r"(?P<name>[A-Za-z_:][A-Za-z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)(?:\s+\S+)?")
_LABEL = re.compile(r'(?P<key>[A-Za-z_][A-Za-z0-9_]*)="(?P<value>(?:[^"\\]|\\.)*)"')


def parse_metric(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of metric `name` in Prometheus text whose labels include `labels` (0 when
    absent). Shared by every view of an operator, a process here or a pod in a cluster. Label values are
    compared as exposed (escaped), which the operator's plain values never need."""
    total = 0.0
    for line in text.splitlines():
        sample = None if line.startswith("#") else _SAMPLE.fullmatch(line.strip())
        if sample is None or sample["name"] != name:
            continue
        found = {m["key"]: m["value"] for m in _LABEL.finditer(sample["labels"] or "")}
        if all(found.get(k) == v for k, v in labels.items()):
            total += float(sample["value"])
    return total

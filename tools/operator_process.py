"""The operator as it runs in a cluster, started as a local process: `webstack-operator run`.

Shared by the tests, the demo and the benchmarks, so all three run the exact command of the image.
"""

from __future__ import annotations

import os
import signal
import subprocess
import urllib.request
from pathlib import Path

from kubelocal.cluster import free_port, pdeathsig_prefix
from kubelocal.wait import eventually
from localservices import console_script


def operator_command() -> list[str]:
    """The same command the operator image runs (Dockerfile.operator's ENTRYPOINT), from this venv."""
    return [console_script("webstack-operator"), "run"]


class OperatorProcess:
    """Runs the operator against a kubeconfig; logs to a file shown when a test fails."""

    def __init__(
        self,
        kubeconfig: Path,
        log_dir: Path,
        *,
        env: dict[str, str] | None = None,
        namespaces: tuple[str, ...] = (),
    ) -> None:
        self.kubeconfig = kubeconfig
        self.log_path = log_dir / f"operator-{os.getpid()}-{free_port()}.log"
        self.env = env or {}
        self.namespaces = namespaces
        self.metrics_port = 0
        self.liveness_port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> OperatorProcess:
        self.metrics_port, self.liveness_port = free_port(), free_port()
        args = [
            *operator_command(),
            f"--liveness-port={self.liveness_port}",
            f"--metrics-port={self.metrics_port}",
        ]
        for ns in self.namespaces:
            args.append(f"--namespace={ns}")
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "WEBSTACK_METRICS_ADDR": "127.0.0.1",
            "WEBSTACK_DISCOVERY_SECONDS": "5",
            **self.env,
        }
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            pdeathsig_prefix() + args, stdout=log, stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL
        )
        log.close()
        eventually(self._healthy, timeout=60, what=f"operator liveness (log: {self.log_path})")
        return self

    def _healthy(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"operator exited:\n{self.tail()}")
        with urllib.request.urlopen(f"http://127.0.0.1:{self.liveness_port}/healthz", timeout=2) as r:
            return bool(r.status == 200)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def tail(self, lines: int = 60) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def metric(self, name: str, **labels: str) -> float:
        """Sum of a metric's samples whose labels include `labels` (0 when absent)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as r:
            text = r.read().decode()
        total = 0.0
        for line in text.splitlines():
            if line.startswith("#") or not line.startswith(name):
                continue
            head, _, value = line.rpartition(" ")
            metric_name, _, label_text = head.partition("{")
            if metric_name != name:
                continue
            pairs = dict(p.split("=", 1) for p in label_text.rstrip("}").split(",") if "=" in p)
            if all(pairs.get(k, "").strip('"') == v for k, v in labels.items()):
                total += float(value)
        return total

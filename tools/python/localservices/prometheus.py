"""A throwaway Prometheus on loopback: given scrape configs and rule files, its TSDB in its own temp dir.

Tests and the demo load the rendered PrometheusRules into it and scrape local processes with it. The binary
comes from the cache `make cluster-binaries` fills (kubelocal.binaries); a test never builds it. The config
can be replaced while it runs (`configure`, then Prometheus's own `/-/reload`), so one server can follow a
test's phases without losing its data.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any, Self

import yaml

from kubelocal.binaries import PrometheusBinaries
from kubelocal.wait import eventually
from localservices.server import LOOPBACK, LocalServer, http_ok
from webstack_operator.kube.jsondata import JSON


class PrometheusError(RuntimeError):
    """The HTTP API answered with an error (bad query, bad config on reload)."""


class PrometheusQueries:
    """The HTTP API calls tests make, on any Prometheus at `url` (this module's server, or the demo's)."""

    @property
    def url(self) -> str:
        raise NotImplementedError

    def api(self, path: str, **params: str) -> Any:
        """The `data` of a `/api/v1/...` answer; an error answer raises with Prometheus's message."""
        query = urllib.parse.urlencode(params)
        url = f"{self.url}/api/v1/{path}" + (f"?{query}" if query else "")
        try:
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - loopback http only
                body: JSON = json.load(response)
        except urllib.error.HTTPError as e:
            body = json.loads(e.read() or b"{}")
            raise PrometheusError(f"{path} {params}: {body.get('error', e.code)}") from None
        return body["data"]

    def query(self, expr: str) -> list[JSON]:
        """An instant query's result vector (each item: `metric` labels and `value` [time, "text"])."""
        data = self.api("query", query=expr)
        if data["resultType"] != "vector":
            raise PrometheusError(f"{expr!r} is a {data['resultType']}, not an instant vector")
        result: list[JSON] = data["result"]
        return result

    def alerts(self) -> list[JSON]:
        """Alerts pending or firing now."""
        result: list[JSON] = self.api("alerts")["alerts"]
        return result

    def wait_for_series(self, expr: str, *, timeout: float = 30.0) -> list[JSON]:
        """Polls until `expr` returns at least one series; fails with what it last saw."""
        found: list[JSON] = eventually(
            lambda: self.query(expr), until=bool, timeout=timeout, interval=0.2, what=f"series for {expr}"
        )
        return found


class PrometheusClient(PrometheusQueries):
    """A Prometheus something else started (the demo's, from the e2e test)."""

    def __init__(self, url: str) -> None:
        self._url = url

    @property
    def url(self) -> str:
        return self._url


class PrometheusServer(LocalServer, PrometheusQueries):
    """`prometheus` with `--web.enable-lifecycle` (reload over HTTP) and a short retention.

    `scrape_configs` are Prometheus `scrape_configs` entries; `rules` maps a file name to a rules-file
    document (`{"groups": [...]}`, as in a PrometheusRule's spec). Prometheus scrapes itself as job
    `prometheus`, so a fresh server has a series to query.
    """

    name = "prometheus"
    ready_timeout = 60.0

    def __init__(
        self,
        *,
        scrape_configs: Sequence[Mapping[str, Any]] = (),
        rules: Mapping[str, Mapping[str, Any]] | None = None,
        interval: str = "1s",
        binaries: PrometheusBinaries | None = None,
        port: int | None = None,
    ) -> None:
        super().__init__(port=port)
        self.binaries = binaries or PrometheusBinaries.locate()
        self.interval = interval
        self.config_path = self.dir / "prometheus.yml"
        self.data_dir = self.dir / "data"
        self._write(scrape_configs, rules or {})

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def ready(self) -> bool:
        return http_ok(f"{self.url}/-/ready")

    def start(self) -> Self:
        self._spawn(
            [
                str(self.binaries.prometheus),
                f"--config.file={self.config_path}",
                f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=1d",
                f"--web.listen-address={LOOPBACK}:{self.port}",
                "--web.enable-lifecycle",
                "--log.level=warn",
            ]
        )
        return self

    def _write(
        self, scrape_configs: Sequence[Mapping[str, Any]], rules: Mapping[str, Mapping[str, Any]]
    ) -> None:
        for old in self.dir.glob("rules-*.yml"):
            old.unlink()
        rule_files = []
        for file_name, document in sorted(rules.items()):
            path = self.dir / f"rules-{file_name}.yml"
            path.write_text(yaml.safe_dump(dict(document), sort_keys=False))
            rule_files.append(str(path))
        self_scrape = {
            "job_name": "prometheus",
            "static_configs": [{"targets": [f"{LOOPBACK}:{self.port}"]}],
        }
        config = {
            "global": {"scrape_interval": self.interval, "evaluation_interval": self.interval},
            "rule_files": rule_files,
            "scrape_configs": [self_scrape, *[dict(c) for c in scrape_configs]],
        }
        self.config_path.write_text(yaml.safe_dump(config, sort_keys=False))

    def configure(
        self,
        *,
        scrape_configs: Sequence[Mapping[str, Any]] = (),
        rules: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        """Replace the scrape configs and rules of the running server; a config it rejects raises."""
        self._write(scrape_configs, rules or {})
        self._post("/-/reload")

    def _post(self, path: str) -> None:
        request = urllib.request.Request(f"{self.url}{path}", method="POST")  # noqa: S310 - loopback
        try:
            with urllib.request.urlopen(request, timeout=30):  # noqa: S310 - loopback http only
                pass
        except urllib.error.HTTPError as e:
            raise PrometheusError(f"POST {path}: {e.code} {e.read().decode(errors='replace')}") from None

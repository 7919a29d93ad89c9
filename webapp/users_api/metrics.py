"""Prometheus metrics of one app instance, in its own registry (two apps in one process never collide).

Names come from `webstack_contract.metric_names`, the module the operator's alerts and canary analysis are
built from.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics import MetricWrapperBase
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from webstack_contract import metric_names as names

# Postgres statements issued, by repository operation. Lets a test (and a dashboard) see how many reads the
# cache saved; the 100-concurrent-misses test counts exactly this.
DB_QUERIES_TOTAL = "users_api_db_queries_total"
LABEL_OPERATION = names.LABEL_OPERATION

# Latency buckets for an API whose cached answers take about a millisecond.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

MetricT = TypeVar("MetricT", bound=MetricWrapperBase)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._children: dict[tuple[MetricWrapperBase, tuple[str, ...]], MetricWrapperBase] = {}
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        labels = (names.LABEL_METHOD, names.LABEL_ROUTE, names.LABEL_STATUS)
        self.http_requests = Counter(
            names.HTTP_REQUESTS_TOTAL, "HTTP requests answered.", labels, registry=self.registry
        )
        self.http_duration = Histogram(
            names.HTTP_REQUEST_DURATION_SECONDS,
            "Time from request start to the end of the response.",
            (names.LABEL_METHOD, names.LABEL_ROUTE),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        route = (names.LABEL_ROUTE,)
        self.cache_hits = Counter(
            names.CACHE_HITS_TOTAL,
            "Reads answered from a cache, by layer: local (this replica's near cache) or redis.",
            (names.LABEL_ROUTE, names.LABEL_LAYER),
            registry=self.registry,
        )
        self.cache_misses = Counter(
            names.CACHE_MISSES_TOTAL,
            "Reads not in Redis, loaded from Postgres.",
            route,
            registry=self.registry,
        )
        self.cache_bypass = Counter(
            names.CACHE_BYPASS_TOTAL,
            "Reads that skipped Redis (cache disabled or circuit open).",
            route,
            registry=self.registry,
        )
        self.cache_errors = Counter(
            names.CACHE_ERRORS_TOTAL,
            "Failed Redis calls, by operation.",
            (LABEL_OPERATION,),
            registry=self.registry,
        )
        self.near_cache_entries = Gauge(
            names.NEAR_CACHE_ENTRIES, "Entries in this replica's near cache.", registry=self.registry
        )
        self.near_cache_bytes = Gauge(
            names.NEAR_CACHE_BYTES,
            "Estimated size of this replica's near cache (bodies, keys and per-entry overhead).",
            registry=self.registry,
        )
        self.near_cache_active = Gauge(
            names.NEAR_CACHE_ACTIVE,
            "1 while the near cache hears invalidations and may answer, else 0.",
            registry=self.registry,
        )
        self.near_cache_invalidations = Counter(
            names.NEAR_CACHE_INVALIDATIONS_TOTAL,
            "Times the near cache was emptied, by reason: message (a write anywhere), write (one here), "
            "connection_lost.",
            ("reason",),
            registry=self.registry,
        )
        self.db_queries = Counter(
            DB_QUERIES_TOTAL,
            "Postgres statements issued, by operation.",
            (LABEL_OPERATION,),
            registry=self.registry,
        )
        self.db_unavailable = Counter(
            names.DB_UNAVAILABLE_TOTAL,
            "Repository operations that failed because Postgres was unreachable (the client got a 503), "
            "by operation; `ping` is the readiness probe's.",
            (LABEL_OPERATION,),
            registry=self.registry,
        )
        self.db_pool_size = Gauge(
            names.DB_POOL_SIZE, "Connections in the Postgres pool.", registry=self.registry
        )
        self.db_pool_idle = Gauge(
            names.DB_POOL_IDLE, "Idle connections in the Postgres pool.", registry=self.registry
        )

    def child(self, metric: MetricT, *labels: str) -> MetricT:
        """`metric.labels(*labels)`, remembered: a dict lookup per request instead of label validation."""
        key = (metric, labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found  # type: ignore[return-value]

    def watch_near_cache(
        self, entries: Callable[[], float], size: Callable[[], float], active: Callable[[], float]
    ) -> None:
        self.near_cache_entries.set_function(entries)
        self.near_cache_bytes.set_function(size)
        self.near_cache_active.set_function(active)

    def watch_pool(self, size: Callable[[], float], idle: Callable[[], float]) -> None:
        """Read the pool gauges at scrape time rather than tracking every acquire and release."""
        self.db_pool_size.set_function(size)
        self.db_pool_idle.set_function(idle)

    def exposition(self) -> tuple[bytes, str]:
        """The text format body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

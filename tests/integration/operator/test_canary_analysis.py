"""Canary analysis that decides: Argo Rollouts' controller runs the rendered AnalysisTemplate against a
real Prometheus, which scrapes real users API processes standing in for the stable and canary pods.

Pods are simulated (kwok), so one `users-api serve` process serves for each backend pod, and Prometheus
scrapes it with the labels the Prometheus Operator would give that pod: the scrape configuration is derived
from the live ServiceMonitor, metrics Service and Pods (tools/python/localservices/scrape.py), so the
`rollouts_pod_template_hash` the template's queries filter on is the one Argo Rollouts put on the pod.
A healthy canary is promoted; a canary whose database password is wrong answers 5xx and is aborted.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
import yaml
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, condition, events, get_json, wait_phase
from tests.support.users_api import api_env

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localservices import PostgresServer, PrometheusServer, RedisServer, UsersApiServer
from localservices.scrape import scrape_configs

pytestmark = [pytest.mark.cluster, pytest.mark.services]

STABLE_IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
CANARY_IMAGE = "ghcr.io/webstack-dev/users-api:0.2.0"
HASH_LABEL = "rollouts-pod-template-hash"


STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "20s"}}]
MIN_SUCCESS_RATE = 0.95


def canary_spec(prometheus: PrometheusServer, image: str) -> dict[str, Any]:
    """One backend pod (one process each for the stable and the canary pod), measurements every 3 s after
    an initial 8 s (the canary must be scraped twice before a rate exists), a 1 s scrape."""
    return {
        "backend": {
            "image": image,
            "replicas": 1,
            "delivery": {
                "strategy": "Canary",
                "steps": STEPS,
                "analysis": {
                    "prometheusAddress": prometheus.url,
                    "minSuccessRate": MIN_SUCCESS_RATE,
                    "maxP95LatencySeconds": 2,  # two busy cores: latency is not what this test judges
                    "initialDelay": "8s",
                    "interval": "3s",
                    "failureLimit": 1,
                },
            },
        },
        "monitoring": {"enabled": True, "scrapeInterval": "1s"},
    }


@pytest.fixture(scope="module")
def analysis_prometheus() -> Iterator[PrometheusServer]:
    """One Prometheus for both cases: each stack has its own namespace, so their series never mix."""
    with PrometheusServer() as server:
        yield server


class Traffic:
    """Requests to every process, paced, in a thread, until stopped; counts answers per process."""

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.statuses: dict[str, dict[int, int]] = {url: {} for url in urls}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _run(self, user: int) -> None:
        # Reads and a write: the write invalidates the cache, so reads reach Postgres too (a canary whose
        # reads were all cache hits would look healthy whatever its database credentials).
        requests = itertools.cycle(
            [("GET", "/api/users?limit=5"), ("GET", f"/api/users/{user}"), ("PATCH", f"/api/users/{user}")]
        )
        with httpx.Client(timeout=5) as client:
            for n in itertools.count():
                if self._stop.is_set():
                    break
                for url in self.urls:
                    method, path = next(requests)
                    body = {"name": f"Canary {n}"} if method == "PATCH" else None
                    try:
                        status = client.request(method, url + path, json=body).status_code
                    except httpx.HTTPError:
                        status = 0
                    counts = self.statuses[url]
                    counts[status] = counts.get(status, 0) + 1
                self._stop.wait(0.05)  # pacing, ~20 requests per second per process

    def __enter__(self) -> Traffic:
        """One user to read and update (created through the first process, the stable one), then traffic."""
        email = f"canary-{uuid.uuid4().hex[:8]}@example.com"
        created = httpx.post(f"{self.urls[0]}/api/users", json={"email": email, "name": "Canary"}, timeout=10)
        created.raise_for_status()
        self._thread = threading.Thread(target=self._run, args=(created.json()["id"],), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)


def wrong_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    netloc = f"{parts.username}:not-the-password@{parts.hostname}:{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def backend_pods(cluster: KubeTarget, ns: str, pod_hash: str) -> list[dict[str, Any]]:
    return list(get_json(cluster, "pods", "-n", ns, "-l", f"{HASH_LABEL}={pod_hash}")["items"])


def scrape(
    cluster: KubeTarget, prometheus: PrometheusServer, ns: str, stand_ins: dict[str, UsersApiServer]
) -> dict[str, str]:
    """Points Prometheus at the processes standing in for the pods of these pod-template hashes, labelled
    as the live ServiceMonitor would have them labelled; returns pod name -> hash."""
    pods: dict[str, dict[str, Any]] = {}
    addresses: dict[str, str] = {}
    for pod_hash, server in stand_ins.items():
        found = eventually(
            lambda h=pod_hash: backend_pods(cluster, ns, h), timeout=30, what=f"a pod of hash {pod_hash}"
        )
        pod = found[0]
        pods[pod["metadata"]["name"]] = pod
        addresses[pod["metadata"]["name"]] = urlsplit(server.url).netloc
    monitor = get_json(cluster, "servicemonitor", "shop-backend", "-n", ns)
    services = get_json(cluster, "services", "-n", ns)["items"]
    configs = scrape_configs(monitor, services, list(pods.values()), addresses)
    prometheus.configure(scrape_configs=configs)
    return {name: pod["metadata"]["labels"][HASH_LABEL] for name, pod in pods.items()}


@dataclass
class Outcome:
    """A canary run as the cluster and the test saw it."""

    stable_hash: str
    canary_hash: str
    rollout: dict[str, Any]
    run: dict[str, Any]
    webstack: dict[str, Any]
    events: list[dict[str, Any]]
    answers: dict[str, dict[int, int]]  # stable / canary -> HTTP status -> count


def settled_rollout(cluster: KubeTarget, ns: str, until: Any, what: str) -> dict[str, Any]:
    return eventually(
        lambda: get_json(cluster, "rollout", "shop-backend", "-n", ns),
        until=until,
        timeout=90,
        interval=0.5,
        what=what,
    )


def run_canary(
    cluster: KubeTarget,
    prometheus: PrometheusServer,
    ns: str,
    stable_env: dict[str, str],
    canary_env: dict[str, str],
    settled: Any,
) -> Outcome:
    """Deploys the stable image, then the canary image with traffic on both processes, until `settled`."""
    apply_webstack(cluster, ns, "shop", canary_spec(prometheus, STABLE_IMAGE))
    wait_phase(cluster, ns, "shop", timeout=120)
    stable_hash = get_json(cluster, "rollout", "shop-backend", "-n", ns)["status"]["stableRS"]
    hash_of = f'{{namespace="{ns}",job="shop-backend-metrics",rollouts_pod_template_hash="%s"}}'
    with (
        UsersApiServer(env=stable_env) as stable,
        UsersApiServer(env=canary_env, migrate_at_start=False) as canary,
        Traffic([stable.url, canary.url]) as traffic,
    ):
        scrape(cluster, prometheus, ns, {stable_hash: stable})
        prometheus.wait_for_series("users_api_http_requests_total" + hash_of % stable_hash)
        apply_webstack(cluster, ns, "shop", canary_spec(prometheus, CANARY_IMAGE))
        canary_hash = settled_rollout(
            cluster,
            ns,
            lambda r: r["status"].get("currentPodHash") not in (None, stable_hash),
            "the canary's pod-template hash",
        )["status"]["currentPodHash"]
        scrape(cluster, prometheus, ns, {stable_hash: stable, canary_hash: canary})
        prometheus.wait_for_series("users_api_http_requests_total" + hash_of % canary_hash)
        rollout = settled_rollout(cluster, ns, settled, "the Rollout to settle")
        answers = {"stable": dict(traffic.statuses[stable.url]), "canary": dict(traffic.statuses[canary.url])}
    [run] = [
        r
        for r in get_json(cluster, "analysisruns", "-n", ns)["items"]
        if r["metadata"]["labels"][HASH_LABEL] == canary_hash
    ]
    return Outcome(stable_hash, canary_hash, rollout, run, {}, [], answers)


def wait_canary_condition(cluster: KubeTarget, ns: str, reason: str, phase: str) -> dict[str, Any]:
    return eventually(
        lambda: get_json(cluster, "webstack", "shop", "-n", ns),
        until=lambda ws: (
            (ws.get("status") or {}).get("phase") == phase
            and any(
                c["type"] == "CanaryProgressing" and c["reason"] == reason
                for c in ws["status"].get("conditions", [])
            )
        ),
        timeout=30,
        what=f"WebStack {phase} with CanaryProgressing {reason}",
    )


def measurements(run: dict[str, Any], metric: str) -> list[tuple[str, str]]:
    [result] = [m for m in run["status"]["metricResults"] if m["name"] == metric]
    return [(m["phase"], m.get("value", "")) for m in result["measurements"]]


def record(cluster: KubeTarget, ns: str, outcome: Outcome, path: Path) -> None:
    """What docs/canary.md shows: the stack as kubectl prints it, its conditions and canary Events, the
    Rollout's verdict and the AnalysisRun's measurements."""
    lines: list[str] = []

    def add(title: str, body: object) -> None:
        text = body if isinstance(body, str) else yaml.safe_dump(body, sort_keys=False, width=130)
        lines.extend([f"# {title}", text.rstrip(), ""])

    add("kubectl get webstack shop", cluster.kubectl("get", "webstack", "shop", "-n", ns).stdout)
    add(
        "status.conditions (Ready, BackendAvailable, CanaryProgressing)",
        [
            {k: c[k] for k in ("type", "status", "reason", "message")}
            for c in outcome.webstack["status"]["conditions"]
            if c["type"] in ("Ready", "BackendAvailable", "CanaryProgressing")
        ],
    )
    add(
        "Events of the WebStack (canary only)",
        [
            f"{e['type']} {e['reason']}: {e['message']}"
            for e in outcome.events
            if e["reason"].startswith("Canary")
        ],
    )
    status = outcome.rollout["status"]
    add(
        "Rollout status",
        {k: status[k] for k in ("phase", "stableRS", "currentPodHash", "abort", "message") if k in status},
    )
    run_status = outcome.run["status"]
    add(
        f"AnalysisRun {outcome.run['metadata']['name']}",
        {
            "phase": run_status["phase"],
            "message": run_status.get("message", ""),
            "metricResults": [
                {
                    "name": m["name"],
                    "phase": m["phase"],
                    "measurements": [
                        f"{x['finishedAt'][11:19]} {x['phase']} {x.get('value', '')}"
                        for x in m["measurements"]
                    ],
                }
                for m in run_status["metricResults"]
            ],
        },
    )
    add("HTTP answers during the analysis (status: count)", outcome.answers)
    path.write_text("\n".join(lines))
    print(f"\n---- {path}\n" + "\n".join(lines))


def drift_on_backend_services(events: list[dict[str, Any]]) -> list[str]:
    """DriftCorrected Events about the stable or canary Service: Argo Rollouts owns one key of their
    selector, and the operator must not fight it for it."""
    services = ("Service shop-backend ", "Service shop-backend-canary ")
    return [
        e["message"] for e in events if e["reason"] == "DriftCorrected" and e["message"].startswith(services)
    ]


def selector_hash(cluster: KubeTarget, ns: str, service: str) -> str | None:
    selector: dict[str, str] = get_json(cluster, "service", service, "-n", ns)["spec"]["selector"]
    return selector.get(HASH_LABEL)


def promoted_to_full(rollout: dict[str, Any]) -> bool:
    status = rollout["status"]
    return bool(status.get("phase") == "Healthy" and status["stableRS"] == status["currentPodHash"])


def test_a_healthy_canary_passes_its_analysis_and_is_promoted(
    platform: KubeTarget,
    operator: OperatorProcess,
    namespace: str,
    analysis_prometheus: PrometheusServer,
    postgres: PostgresServer,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    env = api_env(postgres, redis_server)
    outcome = run_canary(
        platform,
        analysis_prometheus,
        namespace,
        env,
        env,
        lambda r: (
            r["status"].get("phase") == "Healthy" and r["status"]["stableRS"] == r["status"]["currentPodHash"]
        ),
    )
    # Promoted to 100%: the canary's ReplicaSet is the stable one, every step done.
    assert outcome.rollout["status"]["stableRS"] == outcome.canary_hash != outcome.stable_hash
    assert outcome.rollout["status"]["currentStepIndex"] == len(STEPS)
    success = measurements(outcome.run, "success-rate")
    assert outcome.run["status"]["phase"] == "Successful", outcome.run["status"]
    assert ("Successful", "[1]") in success and not any(p == "Failed" for p, _ in success), success
    outcome.webstack = wait_canary_condition(platform, namespace, "CanaryPromoted", "Ready")
    promoted = condition(outcome.webstack, "CanaryProgressing")
    run_name = outcome.run["metadata"]["name"]
    assert promoted["status"] == "False"
    assert promoted["message"].startswith(
        f"canary promoted: revision 2 ({outcome.canary_hash}) is stable; analysis {run_name} passed: "
        "success-rate 1, p95-latency "
    ), promoted
    assert outcome.webstack["status"]["components"]["backend"]["image"] == CANARY_IMAGE
    outcome.events = events(platform, namespace, "shop")
    assert drift_on_backend_services(outcome.events) == []
    # The stable Service selects the promoted pods only (Argo Rollouts' key, kept by the operator).
    assert selector_hash(platform, namespace, "shop-backend") == outcome.canary_hash
    said = [(e["type"], e["reason"]) for e in outcome.events if e["reason"].startswith("Canary")]
    assert sorted(said) == [("Normal", "CanaryPromoted"), ("Normal", "CanaryStarted")], said
    assert outcome.answers["canary"].get(200, 0) > 50 and not any(s >= 500 for s in outcome.answers["canary"])
    record(platform, namespace, outcome, tmp_path / "canary-promoted.txt")
    # Real drift on the same Service is still corrected, and Argo's key survives the correction. (Not
    # `port`: changing that key of the ports list adds an item and leaves our ownership of the old one as
    # it was, so our managed-fields hash does not change: a limit of drift detection by ownership.)
    platform.kubectl(
        "patch", "service", "shop-backend", "-n", namespace, "--type=json",
        "-p", '[{"op": "replace", "path": "/spec/ports/0/targetPort", "value": 8080}]',
    )  # fmt: skip
    eventually(
        lambda: get_json(platform, "service", "shop-backend", "-n", namespace)["spec"],
        until=lambda spec: (
            spec["ports"] == [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"}]
        ),
        timeout=15,
        what="the stable Service's target port restored",
    )
    assert drift_on_backend_services(events(platform, namespace, "shop")) == [
        "Service shop-backend was changed by someone else; restored it"
    ]
    assert selector_hash(platform, namespace, "shop-backend") == outcome.canary_hash


def test_a_canary_answering_5xx_fails_its_analysis_and_is_aborted(
    platform: KubeTarget,
    operator: OperatorProcess,
    namespace: str,
    analysis_prometheus: PrometheusServer,
    postgres: PostgresServer,
    redis_server: RedisServer,
    tmp_path: Path,
) -> None:
    """The canary's database password is wrong: its reads that miss the (shared) cache fail with 5xx."""
    stable_env = api_env(postgres, redis_server)
    canary_env = {**stable_env, "DATABASE_URL": wrong_password(postgres.dsn), "DB_POOL_MIN_SIZE": "0"}
    outcome = run_canary(
        platform,
        analysis_prometheus,
        namespace,
        stable_env,
        canary_env,
        lambda r: bool(r["status"].get("abort")) and r["status"].get("phase") == "Degraded",
    )
    assert sum(n for s, n in outcome.answers["canary"].items() if s >= 500) > 10, outcome.answers
    # Back to stable: the stable ReplicaSet never changed and the canary's is scaled to zero.
    assert outcome.rollout["status"]["stableRS"] == outcome.stable_hash
    eventually(
        lambda: backend_pods(platform, namespace, outcome.canary_hash),
        until=lambda pods: not pods,
        timeout=30,
        what="the canary pods to go",
    )
    assert outcome.run["status"]["phase"] == "Failed", outcome.run["status"]
    failed = [(p, v) for p, v in measurements(outcome.run, "success-rate") if p == "Failed"]
    assert len(failed) == 2, failed  # failureLimit 1: the second failed measurement aborts
    assert all(float(v.strip("[]")) < MIN_SUCCESS_RATE for _, v in failed), failed
    outcome.webstack = wait_canary_condition(platform, namespace, "CanaryAborted", "Degraded")
    aborted = condition(outcome.webstack, "CanaryProgressing")
    run_name = outcome.run["metadata"]["name"]
    value = float(failed[-1][1].strip("[]"))
    assert aborted["message"].startswith(
        f"canary aborted: analysis {run_name} failed: success-rate {value:.3g} "
        f"(needs >= {MIN_SUCCESS_RATE}; 2 of 2 measurements failed); "
        f"the stable version ({outcome.stable_hash}) serves"
    ), aborted
    assert condition(outcome.webstack, "Ready")["reason"] == "CanaryAborted"
    outcome.events = events(platform, namespace, "shop")
    assert drift_on_backend_services(outcome.events) == []
    assert selector_hash(platform, namespace, "shop-backend") == outcome.stable_hash
    said = [
        (e["type"], e["reason"], e["message"]) for e in outcome.events if e["reason"].startswith("Canary")
    ]
    assert sorted((kind, reason) for kind, reason, _ in said) == [
        ("Normal", "CanaryStarted"),
        ("Warning", "CanaryAborted"),
    ], said
    assert ("Warning", "CanaryAborted", aborted["message"]) in said, said
    record(platform, namespace, outcome, tmp_path / "canary-aborted.txt")

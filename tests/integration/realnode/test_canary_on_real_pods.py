"""A canary of a new image on real pods, judged by the AnalysisTemplate the operator renders: Argo Rollouts'
controller (a host process) queries a host Prometheus that scrapes the real backend pods at their IPs, its
targets re-derived from the live ServiceMonitor, Services and Pods as the canary's pods come and go
(localservices/live_scrape.py). A good image is promoted; a really bad one (webstack.lab/users-api-broken,
tools/images/users-api-broken: Ready, but /api/users answers 500) is aborted while the stable pods serve.

The good image is a second tag of the users-api lab image on the node (`ctr images tag`, as a registry push
of a new tag would give): a new pod template, so a canary, running bytes known to be good. The bad image is
built by setup (`make images`) and loaded by the node like every lab image.

Argo pins the stable Service, which the frontend's nginx proxies to, on the stable pods: without an ALB no
request through the frontend reaches a canary. So a bounded load goes through the frontend (what users see)
and another to the canary Service (what analysis measures), as smoke traffic would: sign-ups only, so that
every answer of the bad release is a 500 (reads of users the stable pods cached would be 200s). A release
that fails everything must be aborted; on real pods it was only paused (its success rate had no series of
successes: Inconclusive), fixed in builders/promql.py.

The stack is the package's demo stack (conftest.py); it is left Ready, on a good image, without analysis.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from tests.support.incluster import InCluster
from tests.support.load import Load, Mix, Summary
from tests.support.operator import condition, get_json, tag_lab_image, wait_phase
from tests.support.realnode_stack import is_ready

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from labimages import reference_of
from localservices import PrometheusServer
from localservices.live_scrape import LiveScrape

HASH_LABEL = "rollouts-pod-template-hash"
GOOD_TAG = "lab-canary"
MIN_SUCCESS_RATE = 0.95
# Two measurements at least before the pause ends: the canary's pod is Ready within seconds, a target
# within `LiveScrape.every`, and has a rate after two scrapes (the demo's scrapeInterval is 5s).
STEPS: list[dict[str, Any]] = [{"setWeight": 50}, {"pause": {"duration": "50s"}}]
SETTLE_WITHIN = 240.0
SIGN_UPS = Mix(create=1, get=0, list=0)


@dataclass
class Canary:
    """The demo stack under a canary, and what the test needs of it."""

    cluster: KubeTarget
    namespace: str
    name: str
    real_node: str
    prometheus: PrometheusServer
    scrape: LiveScrape
    good_image: str
    bad_image: str
    original_delivery: dict[str, Any]

    def get(self, *what: str) -> dict[str, Any]:
        return get_json(self.cluster, *what, "-n", self.namespace)

    def rollout(self) -> dict[str, Any]:
        return self.get("rollout", f"{self.name}-backend")

    def patch_backend(self, backend: dict[str, Any]) -> None:
        self.cluster.kubectl(
            "patch", "webstack", self.name, "-n", self.namespace, "--type=merge",
            "-p", json.dumps({"spec": {"backend": backend}}),
        )  # fmt: skip

    def pods(self, pod_hash: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self.get("pods", "-l", f"{HASH_LABEL}={pod_hash}")["items"]
        return [p for p in found if not p["metadata"].get("deletionTimestamp")]

    def url(self, service: str) -> str:
        spec = self.get("service", f"{self.name}-{service}")["spec"]
        return f"http://{spec['clusterIP']}:{spec['ports'][0]['port']}"


def _analysis(prometheus: PrometheusServer) -> dict[str, Any]:
    return {
        "prometheusAddress": prometheus.url,  # the host's: Argo Rollouts' controller runs on the host
        "minSuccessRate": MIN_SUCCESS_RATE,
        "maxP95LatencySeconds": 5,  # generous: two busy cores; latency is not what this test judges
        "initialDelay": "30s",
        "interval": "5s",
        "failureLimit": 1,
    }


def _stable_image(canary: Canary) -> str:
    """The backend image of the Rollout's stable ReplicaSet: what serves, whatever the spec says now."""
    stable = canary.rollout()["status"]["stableRS"]
    [replica_set] = canary.get("replicasets", "-l", f"{HASH_LABEL}={stable}")["items"]
    containers = replica_set["spec"]["template"]["spec"]["containers"]
    return str(next(c["image"] for c in containers if c["name"] == "backend"))


def _settled_healthy(rollout: dict[str, Any]) -> bool:
    status = rollout.get("status") or {}
    return (
        status.get("phase") == "Healthy"
        and status.get("stableRS") == status.get("currentPodHash")
        and not status.get("abort")
    )


def restore(canary: Canary) -> None:
    """Back to what serves, without analysis: the stable ReplicaSet's image (a rollback to it is immediate,
    no steps) and the demo's own delivery. Waits for the Rollout Healthy and the WebStack Ready."""
    delivery = {**canary.original_delivery, "analysis": None}
    image = _stable_image(canary)
    canary.patch_backend({"image": image, "delivery": delivery})
    eventually(
        canary.rollout,
        until=lambda r: _settled_healthy(r) and _stable_image(canary) == image,
        timeout=SETTLE_WITHIN,
        what=f"the Rollout Healthy on {image}",
    )
    wait_phase(canary.cluster, canary.namespace, canary.name, timeout=SETTLE_WITHIN)


@pytest.fixture(scope="module")
def canary(installed: InCluster, demo: dict[str, Any], real_node: str) -> Iterator[Canary]:
    """The demo stack with analysis against a host Prometheus on its live pods; restored afterwards."""
    cluster = installed.cluster
    namespace, name = demo["metadata"]["namespace"], demo["metadata"]["name"]
    lab = reference_of("webstack.lab/users-api")
    good = f"{lab.rsplit(':', 1)[0]}:{GOOD_TAG}"
    tag_lab_image(cluster, lab, good)
    ws = get_json(cluster, "webstack", name, "-n", namespace)
    with (
        PrometheusServer(interval="5s") as prometheus,
        LiveScrape(cluster, prometheus, namespace, name) as scrape,
    ):
        stack = Canary(
            cluster, namespace, name, real_node, prometheus, scrape, good,
            reference_of("webstack.lab/users-api-broken"), ws["spec"]["backend"]["delivery"],
        )  # fmt: skip
        try:
            delivery = {"strategy": "Canary", "steps": STEPS, "analysis": _analysis(prometheus)}
            stack.patch_backend({"delivery": delivery})
            eventually(  # the operator rendered the template that points at this Prometheus
                lambda: stack.get("analysistemplates")["items"],
                until=lambda found: any(prometheus.url in json.dumps(t) for t in found),
                timeout=60,
                what="the AnalysisTemplate on the host Prometheus",
            )
            wait_phase(cluster, namespace, name, timeout=120)
            yield stack
        finally:
            restore(stack)


@dataclass
class Outcome:
    """One canary as the cluster and the clients saw it."""

    stable_hash: str
    canary_hash: str
    seconds: float  # from the image change to the Rollout settled
    rollout: dict[str, Any]
    run: dict[str, Any]
    frontend: Summary
    canary_service: Summary


def run_canary(canary: Canary, image: str, settled: Callable[[dict[str, Any]], bool]) -> Outcome:
    """The backend image changed to `image` under load, until the Rollout is `settled`."""
    stable_hash = canary.rollout()["status"]["stableRS"]
    with Load(canary.url("frontend"), clients=2, rate=5, duration=SETTLE_WITHIN + 30) as frontend:
        started = time.monotonic()
        canary.patch_backend({"image": image})
        canary_hash = eventually(
            canary.rollout,
            until=lambda r: r["status"].get("currentPodHash") not in (None, stable_hash),
            timeout=60,
            what="the canary's pod-template hash",
        )["status"]["currentPodHash"]
        # Smoke traffic once the canary Service leads to the canary's pods: a client's kept-alive
        # connection stays with the pod it first reached, so one opened earlier would measure the stable.
        eventually(
            lambda: canary_service_leads_to(canary, canary_hash),
            until=bool,
            timeout=120,
            what=f"the canary Service leading to the Ready pods of {canary_hash} only",
        )
        with Load(
            canary.url("backend-canary"), clients=2, rate=5, duration=SETTLE_WITHIN, mix=SIGN_UPS
        ) as direct:
            eventually(  # Prometheus has it: its pod became a target and was scraped
                lambda: canary.prometheus.query(
                    f'up{{namespace="{canary.namespace}",rollouts_pod_template_hash="{canary_hash}"}} == 1'
                ),
                until=bool,
                timeout=90,
                interval=1,
                what=f"the canary ({canary_hash}) scraped; targets {canary.scrape.targets()}",
            )
            rollout = eventually(
                canary.rollout, until=settled, timeout=SETTLE_WITHIN, interval=1, what="settled"
            )
            seconds = time.monotonic() - started
    canary.scrape.check()
    # Argo ends the background run as the rollout settles; its verdict follows in a moment.
    [run] = eventually(
        lambda: [
            r
            for r in canary.get("analysisruns")["items"]
            if r["metadata"]["labels"].get(HASH_LABEL) == canary_hash
        ],
        until=lambda runs: len(runs) == 1 and runs[0].get("status", {}).get("phase") not in (None, "Running"),
        timeout=60,
        what=f"the AnalysisRun of {canary_hash} finished",
    )
    return Outcome(stable_hash, canary_hash, seconds, rollout, run, frontend.summary, direct.summary)


def canary_service_leads_to(canary: Canary, pod_hash: str) -> bool:
    """The canary Service's ready endpoints are exactly the pods of `pod_hash`, each Ready."""
    pods = canary.pods(pod_hash)
    slices = canary.get("endpointslices", "-l", f"kubernetes.io/service-name={canary.name}-backend-canary")
    ready = {
        address
        for found in slices["items"]
        for endpoint in found.get("endpoints") or []
        if (endpoint.get("conditions") or {}).get("ready")
        for address in endpoint["addresses"]
    }
    return bool(pods) and all(is_ready(p) for p in pods) and ready == {p["status"]["podIP"] for p in pods}


def measurements(run: dict[str, Any], metric: str) -> list[tuple[str, str]]:
    [result] = [m for m in run["status"]["metricResults"] if m["name"] == metric]
    return [(m["phase"], m.get("value", "")) for m in result["measurements"]]


def serving_pods(canary: Canary, pod_hash: str, image: str, count: int) -> list[dict[str, Any]]:
    """Exactly `count` pods of that hash, Running and Ready in containerd on the real node, with `image`."""

    def fits(pod: dict[str, Any]) -> bool:
        [backend] = [c for c in pod["spec"]["containers"] if c["name"] == "backend"]
        statuses = pod.get("status", {}).get("containerStatuses", [])
        return (
            backend["image"] == image
            and pod["spec"].get("nodeName") == canary.real_node
            and pod["status"].get("phase") == "Running"
            and is_ready(pod)
            and all(s["containerID"].startswith("containerd://") for s in statuses)
        )

    return eventually(
        lambda: canary.pods(pod_hash),
        until=lambda pods: len(pods) == count and all(fits(p) for p in pods),
        timeout=120,
        what=f"{count} Ready pods of {pod_hash} running {image} on {canary.real_node}",
    )


def wait_canary_condition(canary: Canary, reason: str, phase: str) -> dict[str, Any]:
    return eventually(
        lambda: get_json(canary.cluster, "webstack", canary.name, "-n", canary.namespace),
        until=lambda ws: (
            (ws.get("status") or {}).get("phase") == phase
            and any(
                c["type"] == "CanaryProgressing" and c["reason"] == reason
                for c in ws["status"].get("conditions", [])
            )
        ),
        timeout=60,
        what=f"WebStack {phase} with CanaryProgressing {reason}",
    )


def answered(summary: Summary) -> dict[str, int]:
    return dict(sorted(summary.counts.items()))


def test_a_good_image_passes_its_analysis_on_real_pods_and_is_promoted(canary: Canary) -> None:
    replicas = int(canary.rollout()["spec"]["replicas"])
    outcome = run_canary(canary, canary.good_image, _settled_healthy)
    print(
        f"[figures] canary on real pods, good image: promoted {outcome.seconds:.1f}s after the image change "
        f"(steps {STEPS}); frontend {answered(outcome.frontend)}; "
        f"canary Service {answered(outcome.canary_service)}"
    )
    assert outcome.rollout["status"]["stableRS"] == outcome.canary_hash != outcome.stable_hash
    assert outcome.run["status"]["phase"] == "Successful", outcome.run["status"]
    success = measurements(outcome.run, "success-rate")
    assert any(p == "Successful" for p, _ in success) and not any(p == "Failed" for p, _ in success), success
    serving_pods(canary, outcome.canary_hash, canary.good_image, replicas)
    eventually(
        lambda: canary.pods(outcome.stable_hash), until=lambda p: not p, timeout=120, what="the old pods gone"
    )
    ws = wait_canary_condition(canary, "CanaryPromoted", "Ready")
    promoted = condition(ws, "CanaryProgressing")
    revision = outcome.rollout["metadata"]["annotations"]["rollout.argoproj.io/revision"]
    run_name = outcome.run["metadata"]["name"]
    assert promoted["message"].startswith(
        f"canary promoted: revision {revision} ({outcome.canary_hash}) is stable; "
        f"analysis {run_name} passed: success-rate 1"
    ), promoted
    assert ws["status"]["components"]["backend"]["image"] == canary.good_image
    # The canary was measured on real answers: the canary Service's load was served, and well.
    assert outcome.canary_service.counts.get("create 201", 0) > 10, outcome.canary_service.counts
    assert not [r for r in outcome.canary_service.records if r.status is not None and r.status >= 500]


def _aborted(rollout: dict[str, Any]) -> bool:
    status = rollout.get("status") or {}
    return bool(status.get("abort")) and status.get("phase") == "Degraded"


def test_a_bad_image_fails_its_analysis_on_real_pods_and_is_aborted(canary: Canary) -> None:
    replicas = int(canary.rollout()["spec"]["replicas"])
    good = _stable_image(canary)
    outcome = run_canary(canary, canary.bad_image, _aborted)
    print(
        f"[figures] canary on real pods, bad image: aborted {outcome.seconds:.1f}s after the image change; "
        f"frontend {answered(outcome.frontend)}; canary Service {answered(outcome.canary_service)}"
    )
    # The bad release really answered 500 (it was Ready: the analysis, not a probe, stopped it).
    assert outcome.canary_service.counts.get("create 500", 0) > 10, outcome.canary_service.counts
    assert outcome.rollout["status"]["stableRS"] == outcome.stable_hash
    assert outcome.run["status"]["phase"] == "Failed", outcome.run["status"]
    failed = [(p, v) for p, v in measurements(outcome.run, "success-rate") if p == "Failed"]
    assert len(failed) == 2, failed  # failureLimit 1: the second failed measurement aborts
    assert all(float(v.strip("[]")) < MIN_SUCCESS_RATE for _, v in failed), failed
    eventually(
        lambda: canary.pods(outcome.canary_hash), until=lambda p: not p, timeout=120, what="the canary gone"
    )
    serving_pods(canary, outcome.stable_hash, good, replicas)
    # Users never met the bad release: the frontend's Service selects the stable pods only.
    assert not [r for r in outcome.frontend.records if r.status is not None and r.status >= 500]
    ws = wait_canary_condition(canary, "CanaryAborted", "Degraded")
    aborted = condition(ws, "CanaryProgressing")
    assert aborted["message"].startswith(
        f"canary aborted: analysis {outcome.run['metadata']['name']} failed: success-rate "
    ), aborted
    assert f"the stable version ({outcome.stable_hash}) serves" in aborted["message"], aborted
    assert condition(ws, "Ready")["reason"] == "CanaryAborted"
    # Back to the good image: a rollback to the stable ReplicaSet, no steps; the stack Ready again.
    started = time.monotonic()
    restore(canary)
    print(
        f"[figures] after the abort, back to the stable image and Ready in {time.monotonic() - started:.1f}s"
    )
    ws = wait_canary_condition(canary, "Stable", "Ready")
    assert ws["status"]["components"]["backend"]["image"] == good
    serving_pods(canary, outcome.stable_hash, good, replicas)

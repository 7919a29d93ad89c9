"""The demo on real pods, as a user runs WebStack on kind or EKS: the operator installed from
deploy/overlays/lab (two replicas of its image on the real node, on their ServiceAccount token, one leading
through the Lease), the demo sample with the lab's images and placement reconciled by it onto real pods, the
UI through the frontend Service's ClusterIP (kube-proxy on the host routes it), and a host Prometheus kept
on the pods the live ServiceMonitors select (localservices.live_scrape), evaluating the live rules.

Stopping Postgres (SIGUSR1) on real pods: the operator would put a scaled-down StatefulSet back within
seconds (that is its job), so the demo scales the operator to 0 first, then Postgres; SIGUSR2 scales the
operator back, and its resume puts Postgres back as it would after any drift.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubelocal.pod_logs import keep_namespace_logs
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually
from localdemo import first_user, operator_install
from localdemo.progress import curl_twice, say, step
from localdemo.serving import Serving
from localservices import PrometheusServer, stack_monitoring
from localservices.live_scrape import LiveScrape
from localservices.traffic import Traffic

JSON = dict[str, Any]
INSTANCE = "app.kubernetes.io/instance"
COMPONENT = "app.kubernetes.io/component"
WAIT = 180  # seconds for a pod to come or go on the real node


def service_url(cluster: KubeTarget, namespace: str, service: str) -> str:
    """`http://<ClusterIP>:<port>`: the host reaches a Service as a pod does, through kube-proxy's rules."""
    svc = json.loads(cluster.kubectl("-n", namespace, "get", "service", service, "-o", "json").stdout)
    return f"http://{svc['spec']['clusterIP']}:{svc['spec']['ports'][0]['port']}"


def pods(cluster: KubeTarget, namespace: str, selector: str) -> list[JSON]:
    listed: list[JSON] = json.loads(
        cluster.kubectl("-n", namespace, "get", "pods", "-l", selector, "-o", "json").stdout
    )["items"]
    return sorted(listed, key=lambda p: str(p["metadata"]["name"]))


def _ready(pod: JSON) -> bool:
    conditions = pod.get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def status_of(request: urllib.request.Request | str) -> int:
    """The HTTP status a request got, or 0 when nothing answered (refused, timed out)."""
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - the lab's ClusterIPs
            return int(response.status)
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def post_user(base: str, email: str) -> int:
    """POST /api/users; the status, or 0 when nothing answered."""
    body = json.dumps({"email": email, "name": "First User"}).encode()
    return status_of(
        urllib.request.Request(  # noqa: S310 - the lab's ClusterIP, http only
            f"{base}/api/users", data=body, method="POST", headers={"Content-Type": "application/json"}
        )
    )


def first_user_created(ui: str) -> None:
    """Polls until a user is created through the frontend (nginx → backend pod → Postgres pod), and says
    what the tries before answered (0: no answer), since those seconds count too. Each try names another
    user: one whose answer was lost may have been created, and the same email again would be a 409."""
    answers: list[int] = []

    def attempt() -> int:
        answers.append(post_user(ui, f"first-{uuid.uuid4().hex[:8]}@example.com"))
        return answers[-1]

    eventually(
        attempt,
        until=lambda status: status == 201,
        timeout=WAIT,
        interval=0.2,
        what="the first user created through the frontend",
    )
    before = Counter(answers[:-1])
    if before:
        tries = ", ".join(f"{status} x{count}" for status, count in sorted(before.items()))
        say(f"  {len(answers) - 1} tries answered otherwise first: {tries}")


def where_the_seconds_went(
    cluster: KubeTarget, namespace: str, applied_at: datetime, ready_after: float, first_user_after: float
) -> list[str]:
    listed: list[JSON] = json.loads(cluster.kubectl("-n", namespace, "get", "pods", "-o", "json").stdout)[
        "items"
    ]
    events: list[JSON] = json.loads(cluster.kubectl("-n", namespace, "get", "events", "-o", "json").stdout)[
        "items"
    ]
    jobs: list[JSON] = json.loads(cluster.kubectl("-n", namespace, "get", "jobs", "-o", "json").stdout)[
        "items"
    ]
    times = first_user.pod_times(listed, events, applied_at)
    completions = first_user.job_completions(jobs, applied_at)
    return first_user.report(times, ready_after, first_user_after, completions)


def migration_summary(cluster: KubeTarget, namespace: str, name: str) -> str:
    """The migration Job's completion and the last line its pod logged."""
    jobs = json.loads(
        cluster.kubectl(
            "-n", namespace, "get", "jobs", "-l", f"{INSTANCE}={name},{COMPONENT}=migrate", "-o", "json"
        ).stdout
    )["items"]
    if not jobs:
        return "no migration Job (the image's schema was migrated already)"
    job = jobs[-1]
    log = cluster.kubectl("-n", namespace, "logs", f"job/{job['metadata']['name']}", check=False).stdout
    last = (log.strip().splitlines() or ["(no output)"])[-1]
    succeeded = job.get("status", {}).get("succeeded", 0)
    return f"migration Job {job['metadata']['name']}: {succeeded} pod succeeded; its log ends: {last}"


def unauthenticated_ping(address: str) -> str:
    """PING to Redis without the password, through its Service."""
    host, port = address.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(128).decode().strip().lstrip("-+")


def backend_urls(cluster: KubeTarget, namespace: str, name: str) -> list[str]:
    """Each Ready backend pod's users API, by pod IP (what Prometheus scrapes)."""
    found = pods(cluster, namespace, f"{INSTANCE}={name},{COMPONENT}=backend")
    urls = []
    for pod in found:
        if _ready(pod) and not pod["metadata"].get("deletionTimestamp"):
            port = pod["spec"]["containers"][0]["ports"][0]["containerPort"]
            urls.append(f"http://{pod['status']['podIP']}:{port}")
    return urls


def show_pods(cluster: KubeTarget, *namespaces: str) -> None:
    for namespace in namespaces:
        say(f"  kubectl get pods -o wide -n {namespace}")
        print(cluster.kubectl("-n", namespace, "get", "pods", "-o", "wide").stdout, flush=True)


@dataclass
class PodPostgres:
    """Postgres on a real pod, stopped and started for SIGUSR1 / SIGUSR2 (module docstring). `pid` is None:
    no process of the demo's own is Postgres."""

    cluster: KubeTarget
    namespace: str
    name: str
    operator_replicas: int
    pid: int | None = None
    _running: bool = field(default=True, repr=False)

    def running(self) -> bool:
        return self._running

    def _postgres_pods(self) -> list[JSON]:
        return pods(self.cluster, self.namespace, f"{INSTANCE}={self.name},{COMPONENT}=database")

    def stop(self) -> None:
        # The replicas' logs go with their pods: kept first, for the search for leaked passwords.
        keep_namespace_logs(self.cluster, operator_install.NAMESPACE, prefix="demo")
        self._scale(operator_install.NAMESPACE, f"deployment/{operator_install.NAME}", 0)
        eventually(
            lambda: pods(self.cluster, operator_install.NAMESPACE, operator_install.POD_LABEL),
            until=lambda left: not left,
            timeout=WAIT,
            what="the operator's pods gone",
        )
        self._scale(self.namespace, f"statefulset/{self.name}-postgres", 0)
        eventually(self._postgres_pods, until=lambda left: not left, timeout=WAIT, what="Postgres gone")
        self._running = False

    def start(self) -> None:
        self._scale(operator_install.NAMESPACE, f"deployment/{operator_install.NAME}", self.operator_replicas)
        eventually(
            self._postgres_pods,
            until=lambda found: len(found) == 1 and _ready(found[0]),
            timeout=WAIT,
            what="Postgres put back by the operator, Ready",
        )
        self._running = True

    def _scale(self, namespace: str, workload: str, replicas: int) -> None:
        self.cluster.kubectl("-n", namespace, "scale", workload, f"--replicas={replicas}")


def operator_replicas(cluster: KubeTarget) -> int:
    deployment = json.loads(
        cluster.kubectl(
            "-n", operator_install.NAMESPACE, "get", "deployment", operator_install.NAME, "-o", "json"
        ).stdout
    )
    return int(deployment["spec"]["replicas"])


def leader_metrics(cluster: KubeTarget) -> str:
    leader = eventually(
        lambda: operator_install.leader(cluster), until=bool, timeout=60, what="an operator pod leading"
    )
    assert leader is not None
    say(
        f"  operator leader: pod {leader['metadata']['name']} (Lease {operator_install.NAMESPACE}/"
        f"{operator_install.NAME})"
    )
    return operator_install.metrics_url(leader)


def install_operator(cluster: KubeTarget) -> None:
    step(
        "installing deploy/overlays/lab (the dev install from the lab's images): "
        "2 operator replicas on the real node, on their ServiceAccount token",
        lambda: operator_install.install(cluster),
    )


@dataclass
class KeepLogs:
    """At the demo's stop, before the node goes: every container's log of these namespaces, for the search
    for leaked passwords (kubelocal.leaks)."""

    cluster: KubeTarget
    namespaces: tuple[str, ...]

    def stop(self) -> None:
        for namespace in self.namespaces:
            keep_namespace_logs(self.cluster, namespace, prefix="demo")


def serve(
    cluster: KubeTarget,
    ns: str,
    name: str,
    applied_at: datetime,
    timings: tuple[float, float],
    started: list[Any],
) -> Serving:
    """The first user through the frontend and where its seconds went, the pods on the node, Redis's
    refusal, the cache's miss then hit, Prometheus on the live pods, light traffic. `timings`: the apply
    (time.monotonic()) and the seconds it took to Ready."""
    applied, ready_after = timings
    ui = service_url(cluster, ns, f"{name}-frontend")
    step(
        "creating the first user through the frontend (POST /api/users to nginx)",
        lambda: first_user_created(ui),
    )
    first_user_after = time.monotonic() - applied
    for line in where_the_seconds_went(cluster, ns, applied_at, ready_after, first_user_after):
        say(line)
    show_pods(cluster, ns, operator_install.NAMESPACE)
    say(f"  {migration_summary(cluster, ns, name)}")
    redis = service_url(cluster, ns, f"{name}-redis")
    say(f"  PING without the password -> {unauthenticated_ping(redis)}")
    curl_twice(f"{ui}/api/users?limit=5")
    rules = stack_monitoring.rule_files(cluster, ns, name)
    prometheus = PrometheusServer(rules=rules)
    step("starting Prometheus with the live PrometheusRules' alerts", prometheus.start)
    started.append(prometheus)
    live = LiveScrape(cluster, prometheus, ns, name, more=(stack_monitoring.OPERATOR_MONITOR,), rules=rules)
    step("pointing it at the live ServiceMonitors' pods, kept as pods come and go", live.start)
    started.append(live)
    started.append(Traffic([ui]).start())
    return Serving(
        ui=ui,
        api=ui,
        apis=backend_urls(cluster, ns, name),
        operator_metrics=leader_metrics(cluster),
        prometheus=prometheus.url,
        postgres=PodPostgres(cluster, ns, name, operator_replicas(cluster)),
        pids=[prometheus.pid] if prometheus.pid else [],
        postgres_titles=(
            "stopping Postgres (SIGUSR1): the operator scaled to 0 first (it would put Postgres back), "
            "then the StatefulSet; the API answers 503 where it needs the database",
            "starting Postgres again (SIGUSR2): the operator scaled back, its resume puts Postgres back",
        ),
    )

"""`make demo`: the whole system on one machine, then a clean exit.

A local control plane with kwok nodes, the operator running as in a cluster (least-privilege RBAC from
deploy/operator, through a ServiceAccount token), the demo WebStack brought to Ready with a live view, and,
because kwok pods run no containers, the real workload beside the cluster, wired from what the operator
rendered: Postgres and Redis, the migration Job's `users-api migrate`, the users API with the rendered pod's
environment and Secret, and nginx with the rendered frontend ConfigMap. Redis runs the rendered command
line and the password of the rendered Secret, and the demo shows a client without it refused.

Monitoring as a Prometheus Operator would set it up: a local Prometheus scrapes one users API process per
backend pod and the operator, with the scrape configs derived from the live ServiceMonitors (so the targets
carry the pods' labels), and evaluates the live PrometheusRules; light traffic keeps the dashboard busy.
`kill -USR1 <demo pid>` stops Postgres (the alerts fire), `kill -USR2 <demo pid>` starts it again.

Runs until Ctrl-C, or DEMO_EXIT_AFTER seconds. Every process it starts is stopped on the way out.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kubelocal import LocalCluster, leaks
from kubelocal.target import OPERATOR_CRD_PROJECTS, KubeTarget
from kubelocal.wait import Timeout, eventually
from localservices import (
    NginxServer,
    OperatorProcess,
    PostgresServer,
    PrometheusServer,
    RedisServer,
    UsersApiServer,
    stack_monitoring,
    users_api_executable,
)
from localservices.passwords import webstack_passwords
from localservices.traffic import Traffic
from webstack_operator.builders.redis import redis_auth_config, redis_server_args

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "deploy" / "samples" / "webstack-demo.yaml"
OPERATOR_MONITORING = ROOT / "deploy" / "components" / "operator-monitoring"
OPERATOR_NS, OPERATOR_SA = "webstack-system", "webstack-operator"
T0 = time.monotonic()


def say(message: str) -> None:
    print(f"[demo {time.monotonic() - T0:6.1f}s] {message}", flush=True)


def step(title: str, fn: Callable[[], Any]) -> Any:
    started = time.monotonic()
    say(f"{title} ...")
    result = fn()
    say(f"{title}: done in {time.monotonic() - started:.1f}s")
    return result


def install_operator_rbac(cluster: KubeTarget) -> dict[str, Any]:
    """deploy/operator as kustomize builds it, with the operator-monitoring component's ServiceMonitor and
    alerts, minus the Deployment: kwok would only pretend to run it, so the real process runs here with the
    ServiceAccount's token instead. Returns the Deployment (its pod is what the operator stands in for)."""
    built = cluster.kubectl("kustomize", str(ROOT / "deploy" / "operator")).stdout
    component = _yaml_docs((OPERATOR_MONITORING / "kustomization.yaml").read_text())[0]
    monitoring = [
        d for f in component["resources"] for d in _yaml_docs((OPERATOR_MONITORING / f).read_text())
    ]
    deployment = next(d for d in _yaml_docs(built) if d.get("kind") == "Deployment")
    docs = [d for d in _yaml_docs(built) if d.get("kind") != "Deployment"] + monitoring
    cluster.kubectl(
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        "-",
        input=json.dumps({"apiVersion": "v1", "kind": "List", "items": docs}),
    )
    cluster.wait_established(["webstacks.webstack.dev"])
    return deployment


def _yaml_docs(text: str) -> list[dict[str, Any]]:
    import yaml

    return [d for d in yaml.safe_load_all(text) if d]


def watch_until_ready(cluster: KubeTarget, ns: str, name: str, timeout: float = 240) -> dict[str, Any]:
    """A live view: every condition change and every Event, as they happen, until Ready."""
    seen_conditions: dict[str, tuple[str, str]] = {}
    seen_events: set[str] = set()

    def show_changes() -> dict[str, Any]:
        ws = json.loads(cluster.kubectl("get", "webstack", name, "-n", ns, "-o", "json").stdout)
        for c in (ws.get("status") or {}).get("conditions") or []:
            now = (c["status"], c.get("reason", ""))
            if seen_conditions.get(c["type"]) != now:
                seen_conditions[c["type"]] = now
                reason, message = c.get("reason", ""), c.get("message", "")
                say(f"  condition {c['type']:<20} {c['status']:<5} {reason}: {message}")
        events = json.loads(
            cluster.kubectl(
                "get", "events", "-n", ns, "--field-selector", f"involvedObject.name={name}", "-o", "json"
            ).stdout
        )
        for e in sorted(events["items"], key=lambda e: e["metadata"]["creationTimestamp"]):
            if e["metadata"]["uid"] not in seen_events:
                seen_events.add(e["metadata"]["uid"])
                say(f"  event     {e['type']:<8} {e['reason']:<16} {e.get('message', '')}")
        return dict(ws)

    def ready(ws: dict[str, Any]) -> bool:
        status = ws.get("status") or {}
        return bool(
            status.get("phase") == "Ready"
            and status.get("observedGeneration") == ws["metadata"]["generation"]
        )

    try:
        ws = eventually(
            show_changes, until=ready, timeout=timeout, interval=0.5, what="the demo WebStack Ready"
        )
    except Timeout as e:
        raise SystemExit(str(e)) from None
    say(f"  phase Ready, components {ws['status'].get('readyComponents')}")
    return ws


def rendered_backend(cluster: KubeTarget, ns: str, name: str) -> dict[str, Any]:
    for kind in ("rollout", "deployment"):
        got = cluster.kubectl("get", kind, f"{name}-backend", "-n", ns, "-o", "json", check=False)
        if got.returncode == 0:
            return dict(json.loads(got.stdout))
    raise SystemExit("no backend workload was rendered")


def backend_environment(cluster: KubeTarget, ns: str, workload: dict[str, Any]) -> dict[str, str]:
    """The API container's env as the operator rendered it, Secret references resolved from the cluster."""
    container = workload["spec"]["template"]["spec"]["containers"][0]
    env: dict[str, str] = {}
    secrets: dict[str, dict[str, str]] = {}
    for var in container.get("env", []):
        if "value" in var:
            env[var["name"]] = var["value"]
        elif "secretKeyRef" in var.get("valueFrom", {}):
            ref = var["valueFrom"]["secretKeyRef"]
            if ref["name"] not in secrets:
                raw = json.loads(cluster.kubectl("get", "secret", ref["name"], "-n", ns, "-o", "json").stdout)
                secrets[ref["name"]] = {
                    k: base64.b64decode(v).decode() for k, v in raw.get("data", {}).items()
                }
            env[var["name"]] = secrets[ref["name"]][ref["key"]]
    return env


def redis_as_rendered(cluster: KubeTarget, ns: str, name: str) -> RedisServer:
    """A RedisServer that runs what the operator rendered: the Deployment's command line and the config
    file of its Secret (checked equal to what the server will run, never assumed)."""
    deployment = json.loads(
        cluster.kubectl("get", "deployment", f"{name}-redis", "-n", ns, "-o", "json").stdout
    )
    pod = deployment["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    secret_name = next(v["secret"]["secretName"] for v in pod["volumes"] if "secret" in v)
    raw = json.loads(cluster.kubectl("get", "secret", secret_name, "-n", ns, "-o", "json").stdout)["data"]
    data = {k: base64.b64decode(v).decode() for k, v in raw.items()}
    server = RedisServer(password=data["password"], max_memory=args[args.index("--maxmemory") + 1])
    if args != redis_server_args(server.max_memory) or data["redis.conf"] != redis_auth_config(
        server.password
    ):
        raise SystemExit(f"the rendered Redis differs from what the demo would run: {args}")
    return server


def unauthenticated_ping(redis: RedisServer) -> str:
    with socket.create_connection(("127.0.0.1", redis.port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(128).decode().strip().lstrip("-+")


def migrate_as_the_job_does(env: dict[str, str]) -> str:
    """kwok only marks the migration Job's pod Succeeded; run its command for real, with the same env."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATABASE_", "REDIS_"))}
    result = subprocess.run(
        [users_api_executable(), "migrate"],
        env={**inherited, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise SystemExit(f"users-api migrate failed ({result.returncode}): {result.stderr or result.stdout}")
    return result.stdout.strip()


def frontend_from_configmap(cluster: KubeTarget, ns: str, name: str) -> tuple[str, dict[str, str]]:
    """The rendered nginx.conf, turned back into the template its tokens came from, and the UI files."""
    data = json.loads(cluster.kubectl("get", "configmap", f"{name}-frontend", "-n", ns, "-o", "json").stdout)[
        "data"
    ]
    conf = data.pop("nginx.conf")
    deployment = json.loads(
        cluster.kubectl("get", "deployment", f"{name}-frontend", "-n", ns, "-o", "json").stdout
    )
    port = next(p["containerPort"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"])
    template = (
        conf.replace(f"http://{name}-backend:80", "@BACKEND_URL@")
        .replace(f"listen {port}", "listen @LISTEN_PORT@")
        .replace("/usr/share/nginx/html", "@STATIC_ROOT@")
    )
    return template, data


def curl_twice(url: str) -> None:
    for attempt in (1, 2):
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - loopback
            cache = r.headers.get("X-Cache")
            say(f"  curl -si {url}  (request {attempt})  ->  HTTP {r.status}, X-Cache: {cache}")


def toggle_postgres(pg: PostgresServer, wanted: list[bool]) -> bool:
    """Stops or starts Postgres as the last SIGUSR1 / SIGUSR2 asked; True when it did either."""
    if pg.running() and not wanted[0]:
        step("stopping Postgres (SIGUSR1): the API answers 503 where it needs the database", pg.stop)
    elif wanted[0] and not pg.running():
        step("starting Postgres again (SIGUSR2)", pg.start)
    else:
        return False
    return True


def main() -> int:
    exit_after = float(os.environ.get("DEMO_EXIT_AFTER", "0") or 0)
    stop = threading.Event()

    def interrupt(*_: object) -> None:
        # While starting up, unwind at once (the finally below stops what started); while serving, stop.
        if stop.is_set() or not serving.is_set():
            raise SystemExit(130)
        stop.set()

    serving = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupt)
    # SIGUSR1 / SIGUSR2: Postgres down / up again, acted on by the main loop (not inside the handler).
    postgres_wanted: list[bool] = [True]
    signal.signal(signal.SIGUSR1, lambda *_: postgres_wanted.__setitem__(0, False))
    signal.signal(signal.SIGUSR2, lambda *_: postgres_wanted.__setitem__(0, True))
    workdir = Path(tempfile.mkdtemp(prefix="webstack-demo-"))
    # With WEBSTACK_LEAK_DIR set (the e2e test), the cluster's generated passwords are noted before it
    # stops, for the search of every log the demo wrote (kubelocal.leaks).
    leaks.HARVESTERS.append(webstack_passwords)
    started: list[Any] = []
    cluster = LocalCluster(nodes=2)
    try:
        step(
            "starting the local control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok)",
            cluster.start,
        )
        started.append(cluster)
        target = KubeTarget(cluster.kubeconfig_path, local=cluster)
        say(f"  export KUBECONFIG={cluster.kubeconfig_path}")
        crds = step(
            "installing the third-party CRDs (Argo Rollouts, Prometheus Operator, Velero, ...)",
            lambda: target.install_thirdparty_crds(*OPERATOR_CRD_PROJECTS),
        )
        say(f"  {len(crds)} CRDs established")
        for ns in ("velero", "monitoring"):
            target.kubectl("create", "namespace", ns, check=False)
        if cluster.start_argo_rollouts():
            say("  Argo Rollouts controller started")
        else:
            say("  Argo Rollouts controller not built: the operator will fall back to a Deployment")
        operator_deployment = step(
            "installing deploy/operator (CRD, namespace, least-privilege RBAC) and its monitoring component",
            lambda: install_operator_rbac(target),
        )
        kubeconfig = target.mint_kubeconfig(OPERATOR_NS, OPERATOR_SA)
        # As in the cluster (POD_NAMESPACE): the Lease lives in the operator's namespace, where its Role is.
        op = OperatorProcess(kubeconfig, workdir, env={"WEBSTACK_LEASE_NAMESPACE": OPERATOR_NS})
        step(f"starting the operator as ServiceAccount {OPERATOR_NS}/{OPERATOR_SA}", op.start)
        started.append(op)

        import yaml

        doc = yaml.safe_load(SAMPLE.read_text())
        ns, name = doc["metadata"].get("namespace", "default"), doc["metadata"]["name"]
        target.kubectl("create", "namespace", ns, check=False)
        step(
            f"applying {SAMPLE.relative_to(ROOT)}",
            lambda: target.kubectl("apply", "--server-side", "-f", str(SAMPLE)),
        )
        step(
            "waiting for the operator to bring every component up",
            lambda: watch_until_ready(target, ns, name),
        )
        print(target.kubectl("get", "ws", "-n", ns).stdout, flush=True)
        print(
            target.kubectl(
                "get",
                "all,configmaps,secrets,ingresses,networkpolicies,poddisruptionbudgets,"
                "servicemonitors,prometheusrules,serviceaccounts",
                "-n",
                ns,
                "-l",
                f"app.kubernetes.io/instance={name}",
            ).stdout,
            flush=True,
        )

        workload = rendered_backend(target, ns, name)
        env = backend_environment(target, ns, workload)
        pg = PostgresServer(user=env["PGUSER"], password=env["PGPASSWORD"], database=env["PGDATABASE"])
        step("starting Postgres with the rendered Secret's credentials", pg.start)
        started.append(pg)
        redis = redis_as_rendered(target, ns, name)
        step(
            f"starting Redis as rendered (Secret {name}-redis's password in a config file, protected mode)",
            redis.start,
        )
        started.append(redis)
        say(f"  PING without the password -> {unauthenticated_ping(redis)}")
        # REDIS_PASSWORD came from the rendered Secret with the rest of the pod's environment.
        env.update({"PGHOST": "127.0.0.1", "PGPORT": str(pg.port), "REDIS_URL": redis.url})
        # The rendered pods never migrate (RUN_MIGRATIONS=false): the Job does, before the backend rolls out.
        migrated = step(
            "running the migration Job's command (users-api migrate)", lambda: migrate_as_the_job_does(env)
        )
        say(f"  {migrated}")
        # One users API process per backend pod kwok simulates, so each scrape target is a real process.
        pods = stack_monitoring.backend_pods(target, ns, workload)
        if not pods:
            raise SystemExit(f"the Ready stack has no backend pod: {workload['spec']['selector']}")
        apis = [UsersApiServer(env=env) for _ in pods]
        for pod, server in zip(pods, apis, strict=True):
            step(
                f"starting the users API for pod {pod['metadata']['name']} (the rendered environment)",
                server.start,
            )
            started.append(server)
        api = apis[0]
        template, assets = frontend_from_configmap(target, ns, name)
        nginx = NginxServer(backend_url=api.url, assets=assets, template=template)
        step("starting nginx with the rendered frontend ConfigMap", nginx.start)
        started.append(nginx)

        stand_ins = {
            p["metadata"]["name"]: server.url.removeprefix("http://")
            for p, server in zip(pods, apis, strict=True)
        }
        prometheus = PrometheusServer(
            scrape_configs=[
                *stack_monitoring.backend_scrape_configs(target, ns, name, pods, stand_ins),
                *stack_monitoring.operator_scrape_configs(
                    target, operator_deployment, f"127.0.0.1:{op.metrics_port}"
                ),
            ],
            rules=stack_monitoring.rule_files(target, ns, name),
        )
        step(
            "starting Prometheus: the live ServiceMonitors' targets, the live PrometheusRules' alerts",
            prometheus.start,
        )
        started.append(prometheus)
        traffic = Traffic([server.url for server in apis]).start()
        started.append(traffic)

        say(f"UI:      {nginx.url}/")
        say(f"API:     {nginx.url}/api/users")
        curl_twice(f"{nginx.url}/api/users?limit=5")
        say(f"metrics: operator http://127.0.0.1:{op.metrics_port}/metrics   users API {api.url}/metrics")
        say(f"Prometheus: {prometheus.url}  (its /targets and /alerts pages show what it sees)")
        say(f"  kill -USR1 {os.getpid()} stops Postgres, so alerts fire; kill -USR2 {os.getpid()} starts it")
        # Every process the demo runs but Postgres, whose pid changes when SIGUSR2 starts it again.
        steady_pids = cluster.pids() + [
            p
            for p in (
                op.process.pid if op.process else None,
                redis.pid,
                *(server.pid for server in apis),
                nginx.pid,
                prometheus.pid,
            )
            if p
        ]
        state: dict[str, Any] = {
            "url": nginx.url,
            "api": api.url,
            "kubeconfig": str(cluster.kubeconfig_path),
            "namespace": ns,
            "name": name,
            "apis": [server.url for server in apis],
            "operator_metrics": f"http://127.0.0.1:{op.metrics_port}/metrics",
            "prometheus": prometheus.url,
        }
        state_file = os.environ.get("DEMO_STATE_FILE")

        def write_state() -> None:
            state.update(postgres_running=pg.running(), pids=[*steady_pids, *([pg.pid] if pg.pid else [])])
            if state_file:
                Path(state_file).write_text(json.dumps(state))

        write_state()
        print(f"DEMO_READY {json.dumps(state)}", flush=True)
        say("running; Ctrl-C to stop" + (f" (exits by itself after {exit_after:.0f}s)" if exit_after else ""))
        deadline = time.monotonic() + exit_after if exit_after else None
        serving.set()
        while not stop.wait(0.5):
            if deadline and time.monotonic() >= deadline:
                break
            if toggle_postgres(pg, postgres_wanted):
                write_state()
        return 0
    finally:
        say("stopping everything the demo started")
        for thing in reversed(started):
            try:
                thing.stop()
            finally:
                cleanup = getattr(thing, "cleanup", None)
                if cleanup:
                    cleanup()
        if cluster.components:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        say("stopped")


if __name__ == "__main__":
    sys.exit(main())

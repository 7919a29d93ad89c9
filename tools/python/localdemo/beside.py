"""The demo where this machine cannot run real pods: kwok pods run no containers, so the real workload runs
beside the cluster, wired from what the operator rendered. The operator runs as a process with the
ServiceAccount token of deploy/operator's least-privilege RBAC; Postgres and Redis with the rendered
Secrets' credentials (Redis with the rendered command line and password, so a client without it is
refused); the migration Job's `users-api migrate`; one users API process per backend pod kwok simulates,
with the rendered pod's environment; nginx with the rendered frontend ConfigMap. A local Prometheus scrapes
them with scrape configs derived from the live ServiceMonitors (so the targets carry the pods' labels) and
evaluates the live PrometheusRules.
"""

from __future__ import annotations

import base64
import json
import os
import re
import socket
import subprocess
from pathlib import Path
from typing import Any

import yaml

from kubelocal.target import KubeTarget
from localdemo import operator_install
from localdemo.lab_stack import ROOT
from localdemo.progress import say, step
from localdemo.serving import Serving
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
from localservices.traffic import Traffic
from webstack_operator.builders.redis import redis_auth_config, redis_server_args

RENDERED_BACKEND = re.compile(r'set \$webstack_backend "[^"]+";')
RENDERED_RESOLVER = re.compile(r"resolver \S+ valid=\d+s;\n\s*resolver_timeout \S+;")
OPERATOR_MONITORING = ROOT / "deploy" / "components" / "operator-monitoring"
OPERATOR_NS, OPERATOR_SA = operator_install.NAMESPACE, operator_install.NAME  # deploy/operator's account


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
    return [d for d in yaml.safe_load_all(text) if d]


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
    # The backend's full name and the cluster's DNS server mean nothing beside the cluster: nginx gets the
    # users API's address instead, which needs no resolver.
    template = RENDERED_BACKEND.sub('set $webstack_backend "@BACKEND_URL@";', conf, count=1)
    template = RENDERED_RESOLVER.sub("@RESOLVER@", template, count=1)
    template = template.replace(f"listen {port}", "listen @LISTEN_PORT@").replace(
        "/usr/share/nginx/html", "@STATIC_ROOT@"
    )
    return template, data


def start_operator(
    cluster: KubeTarget, workdir: Path, started: list[Any]
) -> tuple[dict[str, Any], OperatorProcess]:
    """deploy/operator's RBAC installed, and the operator started with its ServiceAccount's token."""
    deployment = step(
        "installing deploy/operator (CRD, namespace, least-privilege RBAC) and its monitoring component",
        lambda: install_operator_rbac(cluster),
    )
    kubeconfig = cluster.mint_kubeconfig(OPERATOR_NS, OPERATOR_SA)
    # As in the cluster (POD_NAMESPACE): the Lease lives in the operator's namespace, where its Role is.
    op = OperatorProcess(kubeconfig, workdir, env={"WEBSTACK_LEASE_NAMESPACE": OPERATOR_NS})
    step(f"starting the operator as ServiceAccount {OPERATOR_NS}/{OPERATOR_SA}", op.start)
    started.append(op)
    return deployment, op


def start_workload(
    target: KubeTarget, ns: str, name: str, workload: dict[str, Any], started: list[Any]
) -> tuple[PostgresServer, RedisServer, list[tuple[dict[str, Any], UsersApiServer]], NginxServer]:
    """Postgres, Redis, the migration, a users API per backend pod (paired with the pod) and nginx, each as
    rendered."""
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
    return pg, redis, list(zip(pods, apis, strict=True)), nginx


def serve(
    target: KubeTarget,
    ns: str,
    name: str,
    operator: tuple[dict[str, Any], OperatorProcess],
    started: list[Any],
) -> Serving:
    """The rendered workload started beside the cluster, Prometheus on it, light traffic."""
    operator_deployment, op = operator
    workload = rendered_backend(target, ns, name)
    pg, redis, paired, nginx = start_workload(target, ns, name, workload, started)
    pods, apis = [p for p, _ in paired], [server for _, server in paired]
    api = apis[0]
    stand_ins = {p["metadata"]["name"]: server.url.removeprefix("http://") for p, server in paired}
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
    # Every process the demo runs but Postgres, whose pid changes when SIGUSR2 starts it again.
    pids = [
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
    return Serving(
        ui=nginx.url,
        api=api.url,
        apis=[server.url for server in apis],
        operator_metrics=f"http://127.0.0.1:{op.metrics_port}/metrics",
        prometheus=prometheus.url,
        postgres=pg,
        pids=pids,
        postgres_titles=(
            "stopping Postgres (SIGUSR1): the API answers 503 where it needs the database",
            "starting Postgres again (SIGUSR2)",
        ),
    )

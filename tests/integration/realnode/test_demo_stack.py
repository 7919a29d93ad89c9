"""Every workload the operator renders for the demo sample runs on the real node as rendered, under
PodSecurity `restricted`: Postgres with its credentials-sync sidecar, Redis, the migration Job, the users
API and the frontend, reached through ClusterIP Services and cluster DNS, the database on a local-path volume.

The stack is rendered by the operator's own code with only the lab's deviations, listed in
tests/support/realnode_stack.py: lab images through the operator's settings and the spec's image fields,
`database.version: "17"`, `database.storage.storageClassName: local-path`, `spec.placement` asking for the
real node (its nodeSelector and toleration, rendered into every pod template by the operator), random
generated passwords as the reconcile makes them.
"""

from __future__ import annotations

import json
import re
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.support.realnode_stack import RealStack, deploy, ready_pods

from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

USERS_API_UID = "10001"


@pytest.fixture(scope="module")
def stack(cluster: KubeTarget, real_node: str) -> Iterator[RealStack]:
    if cluster.local is None:
        pytest.skip("the lab's proof: its images index and the host's routes to ClusterIPs and node paths")
    namespace = f"realnode-{uuid.uuid4().hex[:6]}"
    try:
        deployed = deploy(cluster, namespace)
        try:
            yield deployed
        finally:
            deployed.keep_logs()
    finally:
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture(scope="module")
def frontend_url(stack: RealStack) -> str:
    """The frontend Service's ClusterIP, reached from the host (kube-proxy runs in its network namespace)."""
    service = stack.get("service", stack.child("frontend"))["spec"]
    return f"http://{service['clusterIP']}:{service['ports'][0]['port']}"


def _on_real_node(pods: list[dict[str, Any]], real_node: str) -> None:
    for pod in pods:
        assert pod["spec"]["nodeName"] == real_node, pod["metadata"]["name"]
        for status in pod["status"]["containerStatuses"]:
            assert status["containerID"].startswith("containerd://"), status


def _psql(stack: RealStack, pod: str, sql: str) -> str:
    """One query as the stack's role over the unix socket (trust inside the pod, as initdb set it)."""
    result = stack.exec(pod, "postgres", "psql", "-U", "webstack", "-d", "webstack", "-tAc", sql)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _tcp_login(stack: RealStack, pod: dict[str, Any], password: str) -> Any:
    """A login over the pod network (the pod's own IP: not loopback, so pg_hba's line for every other host,
    the one the backend's connections meet). The password goes through stdin, never a command line."""
    host = pod["status"]["podIP"]
    script = f'PGPASSWORD="$(cat)" psql -h {host} -U webstack -d webstack -tAc "SELECT current_user"'
    return stack.exec(pod["metadata"]["name"], "postgres", "/bin/sh", "-c", script, input=password)


def _redis_over_service(address: tuple[str, int], *commands: str) -> list[str]:
    """Inline commands to Redis from the host, through its Service's ClusterIP; one reply line each."""
    with socket.create_connection(address, timeout=5) as conn, conn.makefile("rwb") as stream:
        replies = []
        for command in commands:
            stream.write(command.encode() + b"\r\n")
            stream.flush()
            replies.append(stream.readline().decode().strip())
        return replies


def test_rendered_pod_templates_pass_pod_security_restricted(stack: RealStack) -> None:
    # The namespace enforces and warns `restricted`: a template that broke it is named on apply.
    assert "PodSecurity" not in stack.apply_warnings, stack.apply_warnings
    # And it enforces: a pod without the hardening is refused (the stack's pods were admitted on merit).
    plain = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "plain"}}
    plain["spec"] = {"containers": [{"name": "main", "image": "webstack.lab/pause:0.1.7"}]}
    refused = stack.cluster.kubectl(
        "-n", stack.namespace, "create", "--dry-run=server", "-f", "-", input=json.dumps(plain), check=False
    )
    assert refused.returncode != 0 and 'violates PodSecurity "restricted' in refused.stderr, refused.stderr


def test_postgres_and_credentials_sync_ready_storing_scram(stack: RealStack, real_node: str) -> None:
    [pod] = ready_pods(stack, "database", 1)
    _on_real_node([pod], real_node)
    name = pod["metadata"]["name"]
    eventually(
        lambda: stack.kubectl("logs", name, "-c", "credentials-sync"),
        until=lambda log: "password of role webstack synced" in log,
        timeout=60,
        what="credentials-sync set the role's password",
    )
    stored = _psql(
        stack, name, "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'webstack'"
    )
    assert stored == "t"
    # Every client inside the pod (probes, sidecar) names a role that exists.
    server_log = stack.kubectl("logs", name, "-c", "postgres")
    assert not re.search(r'FATAL: +role ".*" does not exist', server_log), server_log


def test_postgres_tcp_login_takes_the_password_and_refuses_another(stack: RealStack) -> None:
    [pod] = ready_pods(stack, "database", 1)
    good = _tcp_login(stack, pod, stack.secret_value(stack.child("postgres"), "password"))
    assert good.returncode == 0 and good.stdout.strip() == "webstack", good.stderr
    bad = _tcp_login(stack, pod, "not-the-password-0123456789")
    assert bad.returncode != 0
    assert "password authentication failed" in bad.stderr, bad.stderr


def test_redis_requires_the_password_of_its_file_in_protected_mode(stack: RealStack, real_node: str) -> None:
    [pod] = ready_pods(stack, "cache", 1)
    _on_real_node([pod], real_node)
    name = pod["metadata"]["name"]
    anonymous = stack.exec(name, "redis", "redis-cli", "-h", "127.0.0.1", "ping")
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr, anonymous
    # The password of the mounted file, handed to redis-cli in its environment only.
    with_file = 'REDISCLI_AUTH="$(cat /etc/redis/auth/password)" redis-cli -h 127.0.0.1 {}'
    assert stack.exec(name, "redis", "/bin/sh", "-c", with_file.format("ping")).stdout.strip() == "PONG"
    config = stack.exec(name, "redis", "/bin/sh", "-c", with_file.format("config get protected-mode")).stdout
    assert config.split() == ["protected-mode", "yes"]
    password = stack.secret_value(stack.child("redis"), "password")
    assert stack.exec(name, "redis", "cat", "/etc/redis/auth/password").stdout == password
    # From outside the pod, through the Service: nothing without AUTH, then the password of the file.
    service = stack.get("service", stack.child("redis"))["spec"]
    address = (service["clusterIP"], service["ports"][0]["port"])
    [refused] = _redis_over_service(address, "PING")
    assert refused.startswith("-NOAUTH"), refused
    assert _redis_over_service(address, f"AUTH {password}", "PING") == ["+OK", "+PONG"]


def test_migration_job_completes_on_the_real_node(stack: RealStack, real_node: str) -> None:
    [job] = stack.of_kind("Job")
    name = job["metadata"]["name"]
    done = eventually(
        lambda: stack.get("job", name)["status"],
        until=lambda s: s.get("succeeded", 0) >= 1 or s.get("failed", 0) > 0,
        timeout=240,
        interval=1,
        what=f"Job {name} finished",
    )
    assert done.get("succeeded") == 1, done
    pods = stack.get("pods", "-l", f"batch.kubernetes.io/job-name={name}")["items"]
    assert pods and all(p["spec"]["nodeName"] == real_node for p in pods)


def test_users_api_ready_as_uid_10001_on_a_read_only_root(stack: RealStack, real_node: str) -> None:
    pods = ready_pods(stack, "backend", 2)  # probes passing: startup, liveness and /readyz
    _on_real_node(pods, real_node)
    for pod in pods:
        name = pod["metadata"]["name"]
        assert stack.exec(name, "backend", "id", "-u").stdout.strip() == USERS_API_UID
        write = stack.exec(name, "backend", "touch", "/written-by-test")
        assert write.returncode != 0 and "Read-only file system" in write.stderr, write


def test_frontend_serves_the_ui_and_proxies_users_to_the_backend(
    stack: RealStack, real_node: str, frontend_url: str
) -> None:
    _on_real_node(ready_pods(stack, "frontend", 1), real_node)
    ready_pods(stack, "backend", 2)
    [config] = [c for c in stack.of_kind("ConfigMap") if "index.html" in c.get("data", {})]
    with httpx.Client(base_url=frontend_url, timeout=10, trust_env=False) as client:
        page = client.get("/")
        assert page.status_code == 200 and page.text == config["data"]["index.html"]
        email = f"ada-{uuid.uuid4().hex[:8]}@example.com"
        created = client.post("/api/users", json={"email": email, "name": "Ada Lovelace"})
        assert created.status_code == 201, created.text
        read = client.get(f"/api/users/{created.json()['id']}")
        assert read.status_code == 200 and read.json()["email"] == email
        # Through the cache: BYPASS would mean the backend could not use Redis (users_api.cache).
        assert read.headers["X-Cache"] in ("MISS", "HIT"), read.headers


# From inside a pod: each name through cluster DNS, then one TCP connection to the address it gave.
_RESOLVE_AND_CONNECT = """
import json, socket, sys
found = {}
for name, port in zip(sys.argv[1::2], sys.argv[2::2]):
    address = socket.gethostbyname(name)
    try:
        socket.create_connection((address, int(port)), timeout=5).close()
        found[name] = [address, "open"]
    except OSError as e:
        found[name] = [address, type(e).__name__]
print(json.dumps(found))
"""


def test_service_dns_names_resolve_and_route_from_inside_a_pod_as_the_policies_allow(
    stack: RealStack,
) -> None:
    """The backend resolves Service names through cluster DNS (the lab's `lab-node-dns` allowance:
    localdemo.lab_stack) and reaches the ClusterIPs its NetworkPolicy allows, Postgres's and Redis's, through
    kube-proxy; the frontend's name resolves too, but the real node enforces the policies (kube-router) and
    no row of the connectivity table lets the backend open the frontend, so that connection is refused."""
    [pod, *_] = ready_pods(stack, "backend", 2)
    targets = {"postgres-rw": 5432, "redis": 6379, "frontend": 80}
    hosts = {f"{stack.child(s)}.{stack.namespace}.svc.cluster.local": s for s in targets}
    argv = [str(a) for host, s in hosts.items() for a in (host, targets[s])]
    result = stack.exec(pod["metadata"]["name"], "backend", "python3", "-c", _RESOLVE_AND_CONNECT, *argv)
    assert result.returncode == 0, result.stderr
    seen = {hosts[host]: tuple(v) for host, v in json.loads(result.stdout).items()}
    cluster_ips = {s: stack.get("service", stack.child(s))["spec"]["clusterIP"] for s in targets}
    assert seen == {
        "postgres-rw": (cluster_ips["postgres-rw"], "open"),
        "redis": (cluster_ips["redis"], "open"),
        "frontend": (cluster_ips["frontend"], "ConnectionRefusedError"),
    }


def test_postgres_volume_is_a_node_directory_and_survives_the_pod(
    stack: RealStack, cluster: KubeTarget, frontend_url: str
) -> None:
    [before] = ready_pods(stack, "database", 1)
    name = before["metadata"]["name"]
    claim = stack.get("pvc", f"data-{name}")
    assert claim["status"]["phase"] == "Bound" and claim["spec"]["storageClassName"] == "local-path"
    volume = json.loads(cluster.kubectl("get", "pv", claim["spec"]["volumeName"], "-o", "json").stdout)
    source = volume["spec"].get("hostPath") or volume["spec"]["local"]
    assert (Path(source["path"]) / "pgdata" / "PG_VERSION").read_text().strip() == "17"
    ready_pods(stack, "backend", 2)
    email = f"grace-{uuid.uuid4().hex[:8]}@example.com"
    with httpx.Client(base_url=frontend_url, timeout=10, trust_env=False) as client:
        created = client.post("/api/users", json={"email": email, "name": "Grace Hopper"})
    assert created.status_code == 201, created.text
    stack.kubectl("delete", "pod", name, "--wait=false")
    [after] = eventually(
        lambda: ready_pods(stack, "database", 1, timeout=5),
        until=lambda pods: pods[0]["metadata"]["uid"] != before["metadata"]["uid"],
        timeout=180,
        interval=1,
        what=f"{name} back with a new pod",
    )
    assert stack.get("pvc", f"data-{name}")["spec"]["volumeName"] == claim["spec"]["volumeName"]
    kept = _psql(
        stack, after["metadata"]["name"], f"SELECT name FROM users WHERE id = {int(created.json()['id'])}"
    )
    assert kept == "Grace Hopper"

"""Logging in with every kubeconfig form, TLS both ways, and renewal before expiry and after a 401.

The server is a real TLS server on loopback (kubelocal's PKI: a CA, a server certificate, client
certificates) that verifies client certificates when offered and refuses the tokens a test names. Exec
credential plugins are small Python scripts that count their runs and print an ExecCredential.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
import ssl
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import kopf
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from tests.support.polling import eventually

from kubelocal import pki
from webstack_operator.controller import handlers
from webstack_operator.kube import connection
from webstack_operator.kube.client import ApiError, KubeClient
from webstack_operator.kube.connection import (
    IN_CLUSTER_SERVER,
    SERVICE_ACCOUNT_TOKEN,
    Connection,
    LoginError,
    login,
    renewal_time,
    ssl_context,
)

WHOAMI = "/whoami"


# ---------------------------------------------------------------------- a TLS server and its PKI
@dataclass
class Pki:
    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.crt"

    def client(self, user: str) -> tuple[Path, Path]:
        return pki.issue_client_certificate(self.directory, user, groups=["system:masters"])


@dataclass
class Seen:
    """What the server saw of each request: the client certificate's CN, the Authorization header."""

    requests: list[tuple[str, str, float]] = field(default_factory=list)  # (cn, authorization, time)
    refused: set[str] = field(default_factory=set)  # Authorization values answered with 401

    @property
    def authorizations(self) -> list[str]:
        return [auth for _, auth, _ in self.requests]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    pki.generate(directory, service_ip="10.96.0.1")
    return Pki(directory)


@pytest.fixture
async def server(ca: Pki) -> AsyncIterator[tuple[str, Seen]]:
    seen = Seen()

    async def whoami(request: web.Request) -> web.Response:
        assert request.transport is not None
        peer = request.transport.get_extra_info("peercert") or {}
        cn = next((v for rdn in peer.get("subject", ()) for k, v in rdn if k == "commonName"), "")
        auth = request.headers.get("Authorization", "")
        seen.requests.append((cn, auth, time.time()))
        if auth in seen.refused:
            status = {"kind": "Status", "reason": "Unauthorized", "message": "Unauthorized", "code": 401}
            return web.json_response(status, status=401)
        return web.json_response({"cn": cn, "authorization": auth})

    app = web.Application()
    app.router.add_get(WHOAMI, whoami)
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(ca.ca))
    tls.load_cert_chain(ca.directory / "apiserver.crt", ca.directory / "apiserver.key")
    tls.verify_mode = ssl.CERT_OPTIONAL  # as the apiserver: a client certificate is one way to log in
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server(ssl=tls)
    yield str(test_server.make_url("")).rstrip("/"), seen
    await test_server.close()


def kubeconfig(
    path: Path, server: str, *, cluster: dict[str, Any] | None = None, user: dict[str, Any]
) -> Path:
    """A kubeconfig with a decoy context first, so the current context is what picks the user."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "decoy", "cluster": {"server": "https://127.0.0.1:1"}},
            {"name": "local", "cluster": {"server": server, **(cluster or {})}},
        ],
        "users": [{"name": "decoy", "user": {"token": "decoy"}}, {"name": "me", "user": user}],
        "contexts": [
            {"name": "decoy", "context": {"cluster": "decoy", "user": "decoy"}},
            {"name": "mine", "context": {"cluster": "local", "user": "me", "namespace": "team"}},
        ],
        "current-context": "mine",
    }
    path.write_text(json.dumps(config))
    return path


def b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def login_from(path: Path, tmp_path: Path) -> Callable[[], kopf.ConnectionInfo]:
    """`connection.login` as the operator calls it, outside a pod (no ServiceAccount directory)."""
    return partial(login, kubeconfig=str(path), service_account_dir=tmp_path / "no-service-account")


async def whoami(client: KubeClient) -> dict[str, Any]:
    return await client.request("GET", WHOAMI)


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., KubeClient]]:
    made: list[KubeClient] = []

    def make(info: kopf.ConnectionInfo, **kwargs: Any) -> KubeClient:
        made.append(KubeClient(info, **{"field_manager": "kube-tests", **kwargs}))
        return made[-1]

    yield make
    for client in made:
        await client.close()


# ---------------------------------------------------------------------- kubeconfig forms
@pytest.mark.parametrize("form", ["files", "inline data"])
async def test_a_client_certificate_logs_in_by_mutual_tls(
    form: str,
    ca: Pki,
    server: tuple[str, Seen],
    tmp_path: Path,
    clients: Callable[..., KubeClient],
) -> None:
    url, _ = server
    cert, key = ca.client("alice")
    if form == "files":
        cluster = {"certificate-authority": str(ca.ca)}
        user = {"client-certificate": str(cert), "client-key": str(key)}
    else:
        cluster = {"certificate-authority-data": b64(ca.ca)}
        user = {"client-certificate-data": b64(cert), "client-key-data": b64(key)}
    info = login_from(kubeconfig(tmp_path / "config", url, cluster=cluster, user=user), tmp_path)()
    assert (info.server, info.default_namespace, info.token, info.expiration) == (url, "team", None, None)
    assert info.ca_data == b64(ca.ca)  # as data either way: nothing the login wrote is left to clean up
    assert (info.certificate_data, info.private_key_data) == (b64(cert), b64(key))
    assert await whoami(clients(info)) == {"cn": "alice", "authorization": ""}


async def test_relative_paths_are_read_beside_the_kubeconfig(
    ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, _ = server
    cert, key = ca.client("bob")
    for source, name in ((ca.ca, "ca.crt"), (cert, "me.crt"), (key, "me.key")):
        (tmp_path / name).write_bytes(source.read_bytes())
    user = {"client-certificate": "me.crt", "client-key": "me.key"}
    path = kubeconfig(tmp_path / "config", url, cluster={"certificate-authority": "ca.crt"}, user=user)
    assert (await whoami(clients(login_from(path, tmp_path)())))["cn"] == "bob"


@pytest.mark.parametrize("form", ["token", "tokenFile"])
async def test_a_bearer_token_from_the_kubeconfig_or_its_file(
    form: str, ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, _ = server
    (tmp_path / "token").write_text("s3cret\n")
    user = {"token": "s3cret"} if form == "token" else {"tokenFile": str(tmp_path / "token")}
    cluster = {"certificate-authority": str(ca.ca)}
    info = login_from(kubeconfig(tmp_path / "config", url, cluster=cluster, user=user), tmp_path)()
    assert (info.scheme, info.token) == ("Bearer", "s3cret")
    assert await whoami(clients(info)) == {"cn": "", "authorization": "Bearer s3cret"}


async def test_username_and_password_are_sent_as_basic_auth(
    ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, _ = server
    user = {"username": "admin", "password": "secret"}
    cluster = {"certificate-authority": str(ca.ca)}
    info = login_from(kubeconfig(tmp_path / "config", url, cluster=cluster, user=user), tmp_path)()
    assert (await whoami(clients(info)))["authorization"] == "Basic YWRtaW46c2VjcmV0"


async def test_insecure_skip_tls_verify_still_presents_the_client_certificate(
    ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, _ = server
    cert, key = ca.client("carol")
    user = {"client-certificate": str(cert), "client-key": str(key)}
    path = kubeconfig(tmp_path / "config", url, cluster={"insecure-skip-tls-verify": True}, user=user)
    info = login_from(path, tmp_path)()
    assert info.insecure is True
    assert (await whoami(clients(info)))["cn"] == "carol"


async def test_the_server_is_verified_against_the_given_ca_only(
    server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, seen = server
    other = tmp_path / "other"
    other.mkdir()
    pki.generate(other, service_ip="10.96.0.1")  # a CA that did not sign this server
    path = kubeconfig(
        tmp_path / "config", url, cluster={"certificate-authority": str(other / "ca.crt")}, user={}
    )
    with pytest.raises(ApiError) as caught:
        await whoami(clients(login_from(path, tmp_path)()))
    assert (caught.value.status, caught.value.reason) == (0, "ConnectionError")
    assert "CERTIFICATE_VERIFY_FAILED" in caught.value.message
    assert seen.requests == []


def test_inline_material_leaves_no_file_behind(
    ca: Pki, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = ca.client("dave")
    url = "https://127.0.0.1:6443"
    cluster = {"certificate-authority-data": b64(ca.ca)}
    user = {"client-certificate-data": b64(cert), "client-key-data": b64(key)}
    # A temp dir of its own: the machine's /tmp also holds whatever other test processes make meanwhile.
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    info = login_from(kubeconfig(tmp_path / "config", url, cluster=cluster, user=user), tmp_path)()
    ssl_context(info)
    assert list(private.iterdir()) == []


def test_pem_or_base64_data_make_the_same_context(ca: Pki) -> None:
    cert, key = ca.client("erin")
    as_pem = kopf.ConnectionInfo(
        server="https://x",
        ca_data=ca.ca.read_text(),
        certificate_data=cert.read_bytes(),
        private_key_data=key.read_text(),
    )
    as_base64 = kopf.ConnectionInfo(
        server="https://x", ca_data=b64(ca.ca), certificate_data=b64(cert), private_key_data=b64(key)
    )
    for info in (as_pem, as_base64):
        context = ssl_context(info)
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "webstack-local-ca"),),)]


def test_no_ca_means_the_systems_trust_store_and_insecure_means_none() -> None:
    assert ssl_context(kopf.ConnectionInfo(server="https://x")).verify_mode == ssl.CERT_REQUIRED
    insecure = ssl_context(kopf.ConnectionInfo(server="https://x", insecure=True))
    assert (insecure.verify_mode, insecure.check_hostname) == (ssl.CERT_NONE, False)


def test_without_a_pod_or_a_kubeconfig_there_is_no_login(tmp_path: Path) -> None:
    with pytest.raises(LoginError) as caught:
        login(kubeconfig=str(tmp_path / "absent"), service_account_dir=tmp_path)
    assert caught.value.permanent
    assert "no Kubernetes credentials" in str(caught.value)
    assert str(tmp_path / "absent") in str(caught.value)


def test_a_broken_kubeconfig_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config"
    path.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "current-context": "gone"}))
    with pytest.raises(LoginError) as caught:
        login_from(path, tmp_path)()
    assert caught.value.permanent
    assert str(path) in str(caught.value)


# ---------------------------------------------------------------------- in a pod
def test_in_a_pod_the_service_account_is_used(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    (tmp_path / "ca.crt").write_text("ca")
    (tmp_path / "namespace").write_text("webstack-system")
    info = login(kubeconfig=str(tmp_path / "ignored"), service_account_dir=tmp_path)
    assert (info.server, info.token, info.default_namespace) == (
        IN_CLUSTER_SERVER,
        "sa-token",
        "webstack-system",
    )
    assert info.ca_path == str(tmp_path / "ca.crt")


def test_in_a_pod_the_service_account_token_is_the_default_token_file() -> None:
    in_cluster = kopf.ConnectionInfo(server="https://kubernetes.default.svc")
    assert Connection(in_cluster).token_path == SERVICE_ACCOUNT_TOKEN
    assert Connection(in_cluster, token_path="/etc/token").token_path == "/etc/token"
    assert Connection(kopf.ConnectionInfo(server="https://127.0.0.1:6443")).token_path is None


# ---------------------------------------------------------------------- exec plugins and renewal
PLUGIN = """\
import datetime, json, os, sys
runs = os.environ["RUNS"]
with open(runs, "a") as f:
    f.write("run\\n")
n = len(open(runs).read().split())
lifetime, api_version = float(sys.argv[1]), sys.argv[2]
spec = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
assert spec["kind"] == "ExecCredential" and spec["apiVersion"] == api_version, spec
if os.environ.get("FAIL"):
    sys.exit("no credentials for you")
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
status = {"expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}
if os.environ.get("CERT"):
    status["clientCertificateData"] = open(os.environ["CERT"]).read()
    status["clientKeyData"] = open(os.environ["KEY"]).read()
else:
    status["token"] = f"token-{n}"
print(json.dumps({"apiVersion": api_version, "kind": "ExecCredential", "status": status}))
"""


@dataclass
class Plugin:
    runs: Path
    login: Callable[[], kopf.ConnectionInfo]

    @property
    def count(self) -> int:
        return len(self.runs.read_text().split()) if self.runs.exists() else 0


def exec_plugin(
    tmp_path: Path,
    url: str,
    ca: Pki,
    *,
    lifetime: float,
    api_version: str = "client.authentication.k8s.io/v1",
    env: dict[str, str] | None = None,
) -> Plugin:
    script = tmp_path / "plugin.py"
    script.write_text(PLUGIN)
    runs = tmp_path / "runs"
    variables = [{"name": k, "value": v} for k, v in {"RUNS": str(runs), **(env or {})}.items()]
    user = {
        "exec": {
            "apiVersion": api_version,
            "command": sys.executable,
            "args": [str(script), str(lifetime), api_version],
            "env": variables,
            "interactiveMode": "Never",
        }
    }
    path = kubeconfig(tmp_path / "config", url, cluster={"certificate-authority": str(ca.ca)}, user=user)
    return Plugin(runs, login_from(path, tmp_path))


@pytest.mark.parametrize(
    "api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
)
async def test_an_exec_plugin_runs_with_its_args_and_env_and_its_expiry_is_kept(
    api_version: str, ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, _ = server
    plugin = exec_plugin(tmp_path, url, ca, lifetime=600, api_version=api_version)
    asked = datetime.datetime.now(datetime.UTC)
    info = plugin.login()
    assert (info.token, plugin.count) == ("token-1", 1)
    assert info.expiration is not None
    until = info.expiration - asked
    assert datetime.timedelta(seconds=535) < until < datetime.timedelta(seconds=545)  # a minute before expiry
    assert (await whoami(clients(info, login=plugin.login)))["authorization"] == "Bearer token-1"
    assert plugin.count == 1  # not expiring: not run again


async def test_an_exec_plugin_is_run_again_shortly_before_its_credentials_expire(
    ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, seen = server
    plugin = exec_plugin(tmp_path, url, ca, lifetime=3)
    first = plugin.login()
    assert first.expiration is not None
    expiry = first.expiration + (first.expiration - datetime.datetime.now(datetime.UTC)) / 4  # ~ real expiry
    client = clients(first, login=plugin.login)
    await eventually(
        lambda: whoami(client),
        until=lambda answer: answer["authorization"] == "Bearer token-2",
        within=10,
        what="a request with the renewed token",
    )
    renewed_at = next(at for _, auth, at in seen.requests if auth == "Bearer token-2")
    assert renewed_at < expiry.timestamp()  # before the first token expired
    assert plugin.count == 2
    assert "Bearer token-1" in seen.authorizations


async def test_a_401_runs_the_plugin_again_and_the_request_once_more(
    ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, seen = server
    plugin = exec_plugin(tmp_path, url, ca, lifetime=3600)
    client = clients(plugin.login(), login=plugin.login)
    seen.refused.add("Bearer token-1")  # revoked, long before its expiry
    assert (await whoami(client))["authorization"] == "Bearer token-2"
    assert seen.authorizations == ["Bearer token-1", "Bearer token-2"]
    assert plugin.count == 2


async def test_many_requests_refused_at_once_log_in_again_once(
    ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, seen = server
    plugin = exec_plugin(tmp_path, url, ca, lifetime=3600)
    client = clients(plugin.login(), login=plugin.login)
    seen.refused.add("Bearer token-1")
    answers = await asyncio.gather(*(whoami(client) for _ in range(5)))
    assert {a["authorization"] for a in answers} == {"Bearer token-2"}
    assert plugin.count == 2


async def test_refused_again_after_renewal_is_a_clear_error(
    ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, seen = server
    plugin = exec_plugin(tmp_path, url, ca, lifetime=3600)
    client = clients(plugin.login(), login=plugin.login)
    seen.refused.update({"Bearer token-1", "Bearer token-2"})
    with pytest.raises(ApiError) as caught:
        await whoami(client)
    assert caught.value.status == 401
    assert "the credentials were refused again after renewal" in str(caught.value)
    assert seen.authorizations == ["Bearer token-1", "Bearer token-2"]  # retried once, not more


async def test_credentials_that_cannot_be_renewed_give_the_401_as_it_is(
    server: tuple[str, Seen], ca: Pki, clients: Callable[..., KubeClient]
) -> None:
    url, seen = server
    seen.refused.add("Bearer fixed")
    client = clients(kopf.ConnectionInfo(server=url, ca_path=str(ca.ca), token="fixed"))
    with pytest.raises(ApiError) as caught:
        await whoami(client)
    assert (caught.value.status, caught.value.reason) == (401, "Unauthorized")
    assert len(seen.requests) == 1


async def test_a_failing_plugin_after_a_401_says_so(
    ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, seen = server
    (tmp_path / "good").mkdir()
    good = exec_plugin(tmp_path / "good", url, ca, lifetime=3600)
    bad = exec_plugin(tmp_path, url, ca, lifetime=3600, env={"FAIL": "1"})
    with pytest.raises(LoginError) as failed:
        bad.login()
    assert not failed.value.permanent  # trying again may help
    assert sys.executable in str(failed.value)
    client = clients(good.login(), login=bad.login)
    seen.refused.add("Bearer token-1")
    with pytest.raises(ApiError) as caught:
        await whoami(client)
    assert caught.value.status == 401
    assert "logging in again failed" in str(caught.value)


async def test_a_plugin_may_give_a_client_certificate_instead_and_a_new_one_gets_a_new_session(
    ca: Pki, server: tuple[str, Seen], tmp_path: Path, clients: Callable[..., KubeClient]
) -> None:
    url, _ = server
    cert, key = ca.client("frank")
    plugin = exec_plugin(tmp_path, url, ca, lifetime=3600, env={"CERT": str(cert), "KEY": str(key)})
    client = clients(plugin.login(), login=plugin.login)
    assert (await whoami(client))["cn"] == "frank"
    first_session = client._session
    ca.client("frank")  # reissued in place: same name, same files, a new certificate and key
    assert await client.connection.renew(client.connection.generation)
    assert (await whoami(client))["cn"] == "frank"
    assert client._session is not first_session
    assert first_session is not None and not first_session.closed  # retired, for watches still reading


def test_renewal_is_a_margin_before_expiry() -> None:
    now = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    in_15_minutes = now + datetime.timedelta(minutes=15)  # an EKS token
    assert renewal_time(in_15_minutes, now) == in_15_minutes - datetime.timedelta(minutes=1)
    in_5_seconds = now + datetime.timedelta(seconds=5)
    assert renewal_time(in_5_seconds, now) == in_5_seconds - datetime.timedelta(seconds=1)
    past = now - datetime.timedelta(seconds=5)
    assert renewal_time(past, now) == past


# ---------------------------------------------------------------------- kopf logs in alike
def test_kopfs_login_handler_is_the_same_login(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = kubeconfig(tmp_path / "config", "https://127.0.0.1:6443", user={"token": "t"})
    monkeypatch.setattr(connection, "login", login_from(path, tmp_path))
    assert handlers.login(settings=kopf.OperatorSettings()) == login_from(path, tmp_path)()

    def no_credentials(*_: object) -> kopf.ConnectionInfo:
        raise LoginError("no Kubernetes credentials", permanent=True)

    monkeypatch.setattr(connection, "login", no_credentials)
    with pytest.raises(kopf.PermanentError, match="no Kubernetes credentials"):
        handlers.login(settings=kopf.OperatorSettings())

    def plugin_failed(*_: object) -> kopf.ConnectionInfo:
        raise LoginError("the exec credential plugin failed", permanent=False)

    monkeypatch.setattr(connection, "login", plugin_failed)
    with pytest.raises(kopf.TemporaryError):
        handlers.login(settings=kopf.OperatorSettings())

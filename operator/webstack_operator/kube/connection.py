"""How the operator reaches the apiserver: one login for kopf and our client, TLS, the header, renewal.

`login()` is the one place credentials come from. kopf's `@kopf.on.login` handler and `KubeClient` both call
it, so kopf's watches and the operator's own requests authenticate alike:
- in a pod, the ServiceAccount: its token, CA and namespace as kubelet mounts them;
- elsewhere, the kubeconfig (`KUBECONFIG`, else ~/.kube/config), found and resolved as kubectl would by the
  official client library `kubernetes`: contexts, the CA and client certificate/key as files or inline
  data, a token or tokenFile, username/password, `exec` credential plugins (ExecCredential v1 and v1beta1)
  run with their args and env. Our code imports it only on this path (kopf imports it anyway, though,
  whenever it is installed).
The CA and client certificate/key are returned as data (base64, as a kubeconfig holds them), read from
whatever files the library resolved them to; the library's temp files are removed before `login()` returns.

Credentials that expire (an exec plugin's `expirationTimestamp`) come with `expiration` set a margin
before the real expiry: kopf's vault logs in again at that time, and so does `Connection`. A 401 makes both
log in again at once (kopf through its vault; `Connection.renew` here).
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import logging
import os
import ssl
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import kopf
import yaml

from webstack_operator.kube.jsondata import JSON

log = logging.getLogger(__name__)

IN_CLUSTER_SERVER = "https://kubernetes.default.svc"  # the in-cluster name kopf's own login uses too
SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
SERVICE_ACCOUNT_TOKEN = str(SERVICE_ACCOUNT_DIR / "token")
RENEW_MARGIN = datetime.timedelta(minutes=1)  # at most; a fifth of the lifetime for short-lived ones
LOGIN_RETRY_SECONDS = 5.0  # after a failed early renewal, the old credentials are used meanwhile

# The client library keeps the temp files it writes in a process-wide cache keyed by content: two logins at
# once (kopf's and ours, when one expiry triggers both) could read a file the other has just removed.
_kubeconfig_lock = threading.Lock()


class LoginError(Exception):
    """No usable credentials. `permanent`: a person must fix something (no kubeconfig, a broken one);
    otherwise trying again may help (an exec plugin that failed)."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


def login(
    settings: kopf.OperatorSettings | None = None,
    *,
    kubeconfig: str | None = None,
    service_account_dir: Path = SERVICE_ACCOUNT_DIR,
) -> kopf.ConnectionInfo:
    """The credentials to use now: in a pod, the ServiceAccount; elsewhere, the kubeconfig (by default
    where kubectl looks: `KUBECONFIG`, else ~/.kube/config, as the client library read it at start)."""
    trust_env = settings.networking.trust_env if settings is not None else False
    info = login_in_cluster(service_account_dir, trust_env=trust_env)
    if info is not None:
        return info
    if kubeconfig is None:
        from kubernetes.config import KUBE_CONFIG_DEFAULT_LOCATION

        kubeconfig = str(KUBE_CONFIG_DEFAULT_LOCATION)
    if not any(os.path.exists(os.path.expanduser(p)) for p in kubeconfig.split(os.pathsep) if p):
        raise LoginError(
            f"no Kubernetes credentials: not in a pod (no {service_account_dir / 'token'}), "
            f"and no kubeconfig at {kubeconfig or '(an empty KUBECONFIG)'}",
            permanent=True,
        )
    return login_with_kubeconfig(kubeconfig, trust_env=trust_env)


def login_for_cli(kubeconfig: str | None = None, context: str | None = None) -> kopf.ConnectionInfo:
    """As kubectl finds its credentials: `--kubeconfig`, else KUBECONFIG, else ~/.kube/config, with
    `--context`; only when there is no kubeconfig at all, the pod's ServiceAccount."""
    if kubeconfig is None:
        from kubernetes.config import KUBE_CONFIG_DEFAULT_LOCATION

        default = str(KUBE_CONFIG_DEFAULT_LOCATION)
        if not any(os.path.exists(os.path.expanduser(p)) for p in default.split(os.pathsep) if p):
            info = login_in_cluster(SERVICE_ACCOUNT_DIR)
            if info is not None:
                return info
        kubeconfig = default
    return login_with_kubeconfig(kubeconfig, context=context)


def login_in_cluster(directory: Path, *, trust_env: bool = False) -> kopf.ConnectionInfo | None:
    """The ServiceAccount kubelet mounts into the pod (what kopf's `login_with_service_account` reads)."""
    token_path, ca_path, namespace_path = directory / "token", directory / "ca.crt", directory / "namespace"
    if not token_path.exists():
        return None
    namespace = namespace_path.read_text(encoding="utf-8").strip() if namespace_path.exists() else ""
    return kopf.ConnectionInfo(
        server=IN_CLUSTER_SERVER,
        ca_path=str(ca_path) if ca_path.exists() else None,
        token=token_path.read_text(encoding="utf-8").strip() or None,
        default_namespace=namespace or None,
        trust_env=trust_env,
    )


def login_with_kubeconfig(
    kubeconfig: str, *, trust_env: bool = False, context: str | None = None
) -> kopf.ConnectionInfo:
    """The current context (or `context`) of `kubeconfig` (paths joined with `:`, as in KUBECONFIG), as
    kubectl reads it."""
    # Imported here: a process in a pod never needs it. Its functions are untyped, hence the ignores.
    from kubernetes.client import Configuration
    from kubernetes.config import ConfigException, kube_config

    where = f"kubeconfig {kubeconfig}"
    with _kubeconfig_lock, tempfile.TemporaryDirectory(prefix="kube-login-") as scratch:
        try:
            merged = kube_config.KubeConfigMerger(kubeconfig)  # type: ignore[no-untyped-call]
            if merged.config is None:
                raise LoginError(f"{where}: no such file, or empty", permanent=True)
            loader = kube_config.KubeConfigLoader(  # type: ignore[no-untyped-call]
                config_dict=merged.config,
                config_base_path=None,
                temp_file_path=scratch,
                active_context=context,
            )
            resolved = Configuration()
            loader.load_and_set(resolved)  # type: ignore[no-untyped-call]
            ca_data, certificate_data, private_key_data = (
                _read_base64(path) for path in (resolved.ssl_ca_cert, resolved.cert_file, resolved.key_file)
            )
        except (ConfigException, OSError, yaml.YAMLError) as e:
            raise LoginError(f"{where}: {e}", permanent=True) from e
    header = resolved.api_key.get("BearerToken") or resolved.api_key.get("authorization")
    scheme, _, token = header.partition(" ") if header else ("", "", "")
    token = token.strip()  # a tokenFile's newline, which the library keeps (kubectl trims it)
    user = _current_user(merged.config.value, loader.current_context)
    if "exec" in user and not token and not certificate_data:
        raise LoginError(
            f"{where}: the exec credential plugin {user['exec'].get('command')!r} gave no credentials "
            "(its error is logged just before this)",
            permanent=False,
        )
    expiry = getattr(loader, "expiry", None)  # set by exec plugins (and gcp/oidc providers)
    return kopf.ConnectionInfo(
        server=resolved.host,
        ca_data=ca_data,
        insecure=not resolved.verify_ssl,
        scheme=scheme or None,
        token=token or None,
        certificate_data=certificate_data,
        private_key_data=private_key_data,
        default_namespace=loader.current_context["context"].get("namespace"),
        proxy_url=resolved.proxy,
        trust_env=trust_env,
        expiration=renewal_time(expiry) if isinstance(expiry, datetime.datetime) else None,
    )


def _current_user(config: JSON, context: JSON) -> JSON:
    name = context["context"].get("user")
    for node in config.get("users") or []:
        entry = getattr(node, "value", node)  # the merger wraps each entry in a ConfigNode
        if entry.get("name") == name:
            return dict(entry.get("user") or {})
    return {}


def _read_base64(path: str | None) -> str | None:
    """A file the library resolved (the kubeconfig's own, or its temp copy of inline data), as base64."""
    if not path:
        return None
    return base64.b64encode(Path(path).read_bytes()).decode("ascii")


def renewal_time(expiry: datetime.datetime, now: datetime.datetime | None = None) -> datetime.datetime:
    """When to log in again: before `expiry` by a fifth of the remaining lifetime, at most RENEW_MARGIN."""
    expiry = expiry.astimezone(datetime.UTC)
    lifetime = expiry - (now or datetime.datetime.now(datetime.UTC))
    return expiry - max(datetime.timedelta(0), min(RENEW_MARGIN, lifetime / 5))


# ------------------------------------------------------------------------------------------ TLS, header
def pem(data: str | bytes) -> str:
    """Kubeconfig data is base64 of PEM; PEM itself is taken as it is."""
    text = data.decode("ascii") if isinstance(data, bytes) else data
    return text if text.lstrip().startswith("-----BEGIN") else base64.b64decode(text).decode("ascii")


def ssl_context(info: kopf.ConnectionInfo) -> ssl.SSLContext:
    """Verifies the server with the given CA only (the system's when none is given), unless `insecure`;
    presents the client certificate when there is one. Inline certificate and key go through a private
    directory (0700, files 0600) only while they are loaded: nothing stays on disk."""
    cafile = os.fsdecode(info.ca_path) if info.ca_path else None
    cadata = pem(info.ca_data) if info.ca_data else None
    if info.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=cafile, cadata=cadata)
    has_certificate = info.certificate_path or info.certificate_data
    has_key = info.private_key_path or info.private_key_data
    if has_certificate and has_key:
        with tempfile.TemporaryDirectory(prefix="kube-tls-") as private:
            certfile = _path_or_private_file(info.certificate_path, info.certificate_data, private, "tls.crt")
            keyfile = _path_or_private_file(info.private_key_path, info.private_key_data, private, "tls.key")
            context.load_cert_chain(certfile, keyfile)
    return context


def _path_or_private_file(
    path: str | bytes | os.PathLike[str] | os.PathLike[bytes] | None,
    data: str | bytes | None,
    directory: str,
    name: str,
) -> str:
    if path:
        return os.fsdecode(path)
    assert data is not None
    target = os.path.join(directory, name)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as f:
        f.write(pem(data))
    return target


def tls_material(info: kopf.ConnectionInfo) -> tuple[object, ...]:
    """What the TLS context is made of: a session is rebuilt only when this changes."""
    return (
        info.ca_path,
        info.ca_data,
        info.insecure,
        info.certificate_path,
        info.certificate_data,
        info.private_key_path,
        info.private_key_data,
    )


class Connection:
    """The credentials of one client: the TLS context, the Authorization header, and their renewal.

    `login` is called (in a thread: an exec plugin may take a while) shortly before the credentials expire
    and when the apiserver refuses them; without it, only `token_path` can bring new credentials. A token
    file (in a pod, the ServiceAccount's, which kubelet rotates) is re-read whenever it is rewritten.
    """

    def __init__(
        self,
        info: kopf.ConnectionInfo,
        *,
        token_path: str | None = None,
        login: Callable[[], kopf.ConnectionInfo] | None = None,
    ) -> None:
        self.info = info
        if token_path is None and self.server == IN_CLUSTER_SERVER:
            token_path = SERVICE_ACCOUNT_TOKEN
        self.token_path = token_path
        self.generation = 0  # +1 per renewal: a refused request says which credentials it was sent with
        self._login = login
        self._file_token: str | None = None
        self._token_mtime = 0.0
        self._renewing = asyncio.Lock()
        self._no_login_before = 0.0

    @property
    def server(self) -> str:
        return self.info.server.rstrip("/")

    def ssl_context(self) -> ssl.SSLContext:
        return ssl_context(self.info)

    def auth_header(self) -> dict[str, str]:
        if self.token_path:
            try:
                mtime = os.stat(self.token_path).st_mtime
                if mtime != self._token_mtime:
                    with open(self.token_path, encoding="utf-8") as f:
                        self._file_token = f.read().strip()
                    self._token_mtime = mtime
            except OSError:
                pass  # unreadable for a moment while kubelet swaps it: keep the last token
        info = self.info
        if self._file_token:
            return {"Authorization": f"Bearer {self._file_token}"}
        if info.token:
            return {"Authorization": f"{info.scheme or 'Bearer'} {info.token}"}
        if info.username and info.password:
            credentials = f"{info.username}:{info.password}".encode()
            return {"Authorization": f"Basic {base64.b64encode(credentials).decode()}"}
        return {}

    def expiring(self) -> bool:
        expiration = self.info.expiration
        if expiration is None or self._login is None:
            return False
        if expiration.tzinfo is None:
            expiration = expiration.replace(tzinfo=datetime.UTC)
        return datetime.datetime.now(datetime.UTC) >= expiration

    async def renew_if_expiring(self) -> None:
        """Logs in again when the credentials are about to expire. If that fails, the old ones are used
        (they have a margin left) and the login is tried again a few seconds later."""
        if not self.expiring() or time.monotonic() < self._no_login_before:
            return
        try:
            await self.renew(self.generation)
        except Exception as e:
            self._no_login_before = time.monotonic() + LOGIN_RETRY_SECONDS
            log.warning("credentials expire at %s and could not be renewed: %s", self.info.expiration, e)

    async def renew(self, generation: int) -> bool:
        """New credentials, unless a renewal happened since `generation` (then those are the new ones).
        False when there is no way to renew them; the login's own error when it fails."""
        async with self._renewing:
            if self.generation != generation:
                return True
            if self._login is None and self.token_path is None:
                return False
            if self._login is not None:
                self.info = await asyncio.to_thread(self._login)
            self._token_mtime = 0.0  # and read the token file again, rewritten or not
            self.generation += 1
            renew_at = self.info.expiration or "none due"
            log.info("logged in again to %s (next renewal: %s)", self.server, renew_at)
            return True

"""The operator connects with every kubeconfig form a user may have, and renews credentials that expire.

One operator process per form, watching only its test's namespace, each on a kubeconfig of that form for
the same control plane: the CA and a client certificate (a user in `system:masters`, issued by the
cluster's own CA, which is the apiserver's --client-ca-file) as files or as inline data; a ServiceAccount
token (bound to cluster-admin) inline or in a tokenFile; and an `exec` credential plugin in the EKS form
(ExecCredential v1beta1 with `status.expirationTimestamp`) printing a TokenRequest token with an expiry only
seconds ahead, so that both kopf and the operator's own client must log in again while the test runs.

Each must bring a minimal WebStack to Ready: kopf's watch of WebStacks and the operator's own requests both
authenticate. The shared operator (cluster-wide) is stopped meanwhile, so it cannot do the work for them.
"""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.support.fixtures import apply_webstack
from tests.support.operator import OperatorProcess, wait_phase

from kubelocal import pki
from kubelocal.target import KubeTarget
from kubelocal.wait import eventually

pytestmark = pytest.mark.cluster

IMAGE = "ghcr.io/webstack-dev/users-api:0.1.0"
NEW_IMAGE = "ghcr.io/webstack-dev/users-api:0.1.1"
ACCOUNT_NAMESPACE, ACCOUNT = "kube-system", "webstack-kubeconfig-forms"
CERT_USER = "webstack-kubeconfig-forms"
EXEC_LIFETIME_SECONDS = 15  # what the plugin claims; the TokenRequest itself lasts 10 minutes
FORMS = ["certificate files", "inline data", "token", "tokenFile", "exec plugin"]

PLUGIN = """\
import datetime, json, subprocess, sys
kubectl, admin, namespace, account, lifetime, runs = sys.argv[1:]
token = subprocess.run(
    [kubectl, f"--kubeconfig={admin}", "create", "token", account, "-n", namespace, "--duration=10m"],
    capture_output=True, text=True, check=True,
).stdout.strip()
expiry = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=float(lifetime))
with open(runs, "a") as f:
    f.write(f"{datetime.datetime.now(datetime.timezone.utc).timestamp()}\\n")
print(json.dumps({
    "kind": "ExecCredential",
    "apiVersion": "client.authentication.k8s.io/v1beta1",
    "spec": {},
    "status": {"expirationTimestamp": expiry.strftime("%Y-%m-%dT%H:%M:%SZ"), "token": token},
}))
"""


@dataclass
class Forms:
    """What every form is made of: the server, its CA, a client certificate, a ServiceAccount."""

    cluster: KubeTarget
    server: str
    ca: Path
    directory: Path
    log_dir: Path

    def kubeconfig(self, form: str) -> Path:
        ca_data = base64.b64encode(self.ca.read_bytes()).decode()
        if form in ("certificate files", "inline data"):
            if self.cluster.local is None:
                pytest.skip("a client certificate needs the local control plane's CA key")
            cert, key = pki.issue_client_certificate(
                self.cluster.local.ca_path.parent, CERT_USER, ["system:masters"]
            )
        if form == "certificate files":
            cluster = {"certificate-authority": str(self.ca)}
            user: dict[str, Any] = {"client-certificate": str(cert), "client-key": str(key)}
        elif form == "inline data":
            cluster = {"certificate-authority-data": ca_data}
            user = {
                "client-certificate-data": base64.b64encode(cert.read_bytes()).decode(),
                "client-key-data": base64.b64encode(key.read_bytes()).decode(),
            }
        elif form == "token":
            cluster, user = {"certificate-authority-data": ca_data}, {"token": self.token()}
        elif form == "tokenFile":
            token_file = self.directory / "token"
            token_file.write_text(self.token() + "\n")
            cluster, user = {"certificate-authority": str(self.ca)}, {"tokenFile": str(token_file)}
        else:
            cluster, user = {"certificate-authority-data": ca_data}, {"exec": self.exec_plugin()}
        path = self.directory / f"{form.replace(' ', '-')}.kubeconfig"
        path.write_text(
            json.dumps(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "clusters": [{"name": "local", "cluster": {"server": self.server, **cluster}}],
                    "users": [{"name": form, "user": user}],
                    "contexts": [{"name": form, "context": {"cluster": "local", "user": form}}],
                    "current-context": form,
                }
            )
        )
        path.chmod(0o600)
        return path

    def token(self) -> str:
        args = ("create", "token", ACCOUNT, "-n", ACCOUNT_NAMESPACE, "--duration=1h")
        return self.cluster.kubectl(*args).stdout.strip()

    @property
    def plugin_runs(self) -> list[float]:
        runs = self.directory / "plugin-runs"
        return [float(line) for line in runs.read_text().split()] if runs.exists() else []

    def exec_plugin(self) -> dict[str, Any]:
        script = self.directory / "plugin.py"
        script.write_text(PLUGIN)
        args = [
            str(script),
            str(self.cluster.kubectl_path),
            str(self.cluster.kubeconfig_path),
            ACCOUNT_NAMESPACE,
            ACCOUNT,
            str(EXEC_LIFETIME_SECONDS),
            str(self.directory / "plugin-runs"),
        ]
        return {
            "apiVersion": "client.authentication.k8s.io/v1beta1",
            "command": sys.executable,
            "args": args,
            "interactiveMode": "Never",
        }


def _shared_operators(kubeconfig: Path) -> list[int]:
    """Pids of `webstack-operator run` processes on this kubeconfig: the session's shared operator."""
    found, variable = [], f"KUBECONFIG={kubeconfig}".encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            ours = b"run" in argv and any(a.endswith(b"webstack-operator") for a in argv)
            if ours and variable in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue  # gone, or not ours to read
    return found


@pytest.fixture(scope="module")
def forms(
    platform: KubeTarget, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Forms]:
    """A ServiceAccount bound to cluster-admin, the cluster's server and CA; the shared operator, when one
    runs, stopped until the module ends (started again without waiting for its old Lease)."""
    shared: OperatorProcess | None = None
    if _shared_operators(platform.kubeconfig_path):
        shared = request.getfixturevalue("operator")
        shared.stop()
        assert not _shared_operators(platform.kubeconfig_path), "another operator still runs on this cluster"
    platform.kubectl("create", "serviceaccount", ACCOUNT, "-n", ACCOUNT_NAMESPACE, check=False)
    binding = ("create", "clusterrolebinding", ACCOUNT, "--clusterrole=cluster-admin")
    platform.kubectl(*binding, f"--serviceaccount={ACCOUNT_NAMESPACE}:{ACCOUNT}", check=False)
    raw = json.loads(platform.kubectl("config", "view", "--raw", "--minify", "-o", "json").stdout)
    cluster = raw["clusters"][0]["cluster"]
    directory = tmp_path_factory.mktemp("kubeconfig-forms")
    ca = directory / "ca.crt"
    if cluster.get("certificate-authority-data"):
        ca.write_bytes(base64.b64decode(cluster["certificate-authority-data"]))
    else:
        ca.write_bytes(Path(cluster["certificate-authority"]).read_bytes())
    try:
        yield Forms(platform, cluster["server"], ca, directory, tmp_path_factory.mktemp("operators"))
    finally:
        platform.kubectl("delete", "clusterrolebinding", ACCOUNT, "--ignore-not-found")
        platform.kubectl("delete", "serviceaccount", ACCOUNT, "-n", ACCOUNT_NAMESPACE, "--ignore-not-found")
        if shared is not None:
            lease_namespace = shared.extra_env.get("WEBSTACK_LEASE_NAMESPACE", "default")
            platform.kubectl(
                "delete", "lease", "webstack-operator", "-n", lease_namespace, "--ignore-not-found"
            )
            shared.start()


@pytest.mark.parametrize("form", FORMS)
def test_the_operator_brings_a_stack_to_ready_with_each_form(form: str, forms: Forms, namespace: str) -> None:
    kubeconfig = forms.kubeconfig(form)
    lease = f"kubeconfig-forms-{form.replace(' ', '-').lower()}"
    env = {"WEBSTACK_LEASE_NAMESPACE": namespace, "WEBSTACK_LEASE_NAME": lease}
    apply_webstack(forms.cluster, namespace, "shop", {"backend": {"image": IMAGE}})
    operator = OperatorProcess(kubeconfig, forms.log_dir, env=env, namespaces=(namespace,)).start()
    try:
        wait_phase(forms.cluster, namespace, "shop", timeout=120)
        if form == "exec plugin":
            _renewed_in_time_and_still_working(forms, namespace, operator)
        log = operator.log_path.read_text(errors="replace")
        assert "refused again after renewal" not in log, f"log: {operator.log_path}"
    finally:
        operator.stop()


def _renewed_in_time_and_still_working(forms: Forms, namespace: str, operator: OperatorProcess) -> None:
    """The plugin's credentials claim to expire within seconds. Once the first ones have expired, the
    operator's client has logged in again (it renews a fifth of the lifetime early), and a change made
    then is reconciled: kopf, which sees the change and writes its annotations, has logged in again too."""
    first = forms.plugin_runs[0]
    eventually(
        lambda: (time.time(), operator.log_path.read_text(errors="replace")),
        until=lambda now_log: now_log[0] > first + EXEC_LIFETIME_SECONDS and "logged in again" in now_log[1],
        timeout=4 * EXEC_LIFETIME_SECONDS,
        what=f"the first credentials expired and the client logged in again (log: {operator.log_path})",
    )
    apply_webstack(forms.cluster, namespace, "shop", {"backend": {"image": NEW_IMAGE}})
    ws = wait_phase(forms.cluster, namespace, "shop", timeout=120)
    assert ws["status"]["observedGeneration"] == 2
    log = operator.log_path.read_text(errors="replace")
    assert "Re-authentication has finished" in log, f"kopf never logged in again (log: {operator.log_path})"
    assert len(forms.plugin_runs) >= 4  # kopf's and the client's first logins, and a renewal of each

"""Health probes of the control plane's components: one request each, True only on a healthy answer.

A refused connection raises (URLError) rather than answering False, so the waiter
(kubelocal.process.wait_for, kubelocal.wait.eventually) retries it as "not up yet".
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path


def https_ok(url: str, ca_path: Path, *, verify: bool = True, token: str | None = None) -> bool:
    """200 from an https endpoint signed by the cluster's CA (or by anything, without `verify`)."""
    ctx = ssl.create_default_context(cafile=str(ca_path))
    if not verify:
        # The controller manager and scheduler serve health on a self-signed certificate of their own.
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    req = urllib.request.Request(url)  # noqa: S310 - https to our own loopback components
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=2) as resp:  # noqa: S310
            return bool(resp.status == 200)
    except urllib.error.HTTPError:
        return False


def http_ok(url: str) -> bool:
    """200 from a plain-http endpoint on loopback (kwok's /healthz)."""
    with urllib.request.urlopen(url, timeout=2) as resp:  # noqa: S310 - http to our own loopback component
        return bool(resp.status == 200)


def etcd_healthy(client_url: str) -> bool:
    """etcd's own verdict, the `health` field of its /health body, not only the status code."""
    with urllib.request.urlopen(f"{client_url}/health", timeout=2) as resp:  # noqa: S310
        return bool(json.loads(resp.read()).get("health") == "true")

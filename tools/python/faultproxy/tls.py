"""The proxy's TLS: a serving certificate from a CA of its own (kubelocal.pki, the same recipe as the local
control plane's), and an upstream context that verifies kube-apiserver with the cluster's CA.

A CA of its own means the proxy needs no cluster's private key, and a kubeconfig for the proxy trusts only
the proxy."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from kubelocal import pki


@dataclass(frozen=True)
class ServingFiles:
    ca: Path
    cert: Path
    key: Path


def issue(directory: Path) -> ServingFiles:
    """A new CA and a certificate for localhost and 127.0.0.1, written into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    pki.generate(directory, service_ip="127.0.0.1")
    return ServingFiles(directory / "ca.crt", directory / "apiserver.crt", directory / "apiserver.key")


def server_context(files: ServingFiles) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(files.cert, files.key)
    # Only HTTP/1.1: Go clients offer h2 and fall back; one protocol keeps streaming and faults simple.
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def upstream_context(ca: Path | None) -> ssl.SSLContext:
    """Verifies the upstream with `ca`, or with the system's roots when None (a managed cluster)."""
    ctx = ssl.create_default_context(cafile=str(ca) if ca else None)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx

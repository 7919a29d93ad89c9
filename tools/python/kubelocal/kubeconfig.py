"""The kubeconfig the harness writes: one cluster on loopback, one token user, one context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTEXT = "webstack-local"


def kubeconfig(
    server_url: str, ca_path: Path, *, token: str, user: str = "admin", namespace: str = "default"
) -> dict[str, Any]:
    """A token rather than a client certificate, so a test can stand in for any ServiceAccount."""
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": CONTEXT,
                "cluster": {"server": server_url, "certificate-authority": str(ca_path)},
            }
        ],
        "users": [{"name": user, "user": {"token": token}}],
        "contexts": [
            {
                "name": CONTEXT,
                "context": {"cluster": CONTEXT, "user": user, "namespace": namespace},
            }
        ],
        "current-context": CONTEXT,
    }


def write_kubeconfig(path: Path, config: dict[str, Any]) -> None:
    """Owner-only, as kubectl warns about (and a real one holds) a credential."""
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)

"""kopf runs under the replica's own identity: its detection (`getpass.getuser()`) fails in a container
whose uid has no passwd entry, as the operator image's 65532 has none; the first in-cluster leader crashed
on it."""

from __future__ import annotations

import asyncio
import getpass
from typing import Any

import kopf
import pytest
from kopf._core.engines import peering

from webstack_operator.config.run_options import OperatorConfig
from webstack_operator.kube.client import KubeClient
from webstack_operator.manager import runtime
from webstack_operator.manager.health import Health


def _no_passwd_entry() -> str:
    raise KeyError("getpwuid(): uid not found: 65532")


def test_kopfs_own_detection_needs_a_passwd_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    # Why the identity is passed: without it kopf asks getpass, which raises for an unknown uid.
    monkeypatch.setattr(getpass, "getuser", _no_passwd_entry)
    with pytest.raises(KeyError):
        peering.detect_own_id(manual=False)


async def test_kopf_is_given_the_replicas_identity(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(getpass, "getuser", _no_passwd_entry)
    seen: dict[str, Any] = {}

    async def operator(**kwargs: Any) -> None:
        seen.update(kwargs)

    monkeypatch.setattr(kopf, "operator", operator)
    config = OperatorConfig(liveness_port=0, metrics_port=0, identity="webstack-operator-abc12_0f0f0f0f")
    stop = asyncio.Event()
    client = KubeClient(kopf.ConnectionInfo(server="https://127.0.0.1:1", token="t"), field_manager="test")
    try:
        await runtime._run_kopf(config, client, Health(), stop, stop)
    finally:
        await client.close()
    assert seen["identity"] == config.identity
    assert seen["standalone"] is True

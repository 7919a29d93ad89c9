"""kubelocal.kubeconfig: one cluster, one token user and the context that joins them; written owner-only."""

from __future__ import annotations

import json
from pathlib import Path

from kubelocal.kubeconfig import kubeconfig, write_kubeconfig


def test_the_context_joins_the_one_cluster_and_the_one_user(tmp_path: Path) -> None:
    config = kubeconfig("https://127.0.0.1:6443", tmp_path / "ca.crt", token="t0k", user="op", namespace="ns")
    (cluster,), (user,), (context,) = config["clusters"], config["users"], config["contexts"]
    assert cluster["cluster"] == {
        "server": "https://127.0.0.1:6443",
        "certificate-authority": str(tmp_path / "ca.crt"),
    }
    assert user == {"name": "op", "user": {"token": "t0k"}}
    assert context["context"] == {"cluster": cluster["name"], "user": "op", "namespace": "ns"}
    assert config["current-context"] == context["name"]


def test_it_is_written_as_json_readable_by_its_owner_only(tmp_path: Path) -> None:
    path = tmp_path / "admin.kubeconfig"
    config = kubeconfig("https://127.0.0.1:1", tmp_path / "ca.crt", token="t")
    write_kubeconfig(path, config)
    assert json.loads(path.read_text()) == config
    assert path.stat().st_mode & 0o777 == 0o600

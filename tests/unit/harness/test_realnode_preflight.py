"""When the real node cannot start, the harness says why in one line and goes on with kwok; with
WEBSTACK_REAL_NODE=1 that is an error. One machine holds one real node: the lock names its holder."""

from __future__ import annotations

import ipaddress
import json
import os
from pathlib import Path

import pytest
from tests.support.realnode_layouts import example_layout

from kubelocal.binaries import Binaries
from kubelocal.cluster import KWOK_POD_CIDR, LocalCluster
from kubelocal.realnode import host, preflight
from kubelocal.realnode.layout import POD_SUBNET, NodeLayout

# A cluster object that is never started: these tests need no built binary.
_NO_BINARIES = Binaries(
    kubernetes_version="v0",
    etcd_version="v0",
    kwok_version="v0",
    **{f: Path("/nonexistent") / f for f in ("kube_apiserver", "kube_controller_manager", "kube_scheduler")},
    kubectl=Path("/nonexistent/kubectl"),
    etcd=Path("/nonexistent/etcd"),
    kwok=Path("/nonexistent/kwok"),
    kwok_stages=Path("/nonexistent/stages.yaml"),
)


_KUBE_PROXY = Path("/nonexistent/kube-proxy")


def _layout(root: Path) -> NodeLayout:
    return example_layout(root)


def test_opting_out_is_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(preflight.ENV, "0")
    reason = preflight.unavailable()
    assert reason == "off (WEBSTACK_REAL_NODE=0)"
    assert not preflight.required()


def test_without_root_the_reason_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(preflight.ENV, raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    reason = preflight.unavailable()
    assert reason is not None and "needs root" in reason and "\n" not in reason


def test_a_cluster_that_did_not_ask_for_one_never_fails_for_its_absence(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A harness test's private LocalCluster under CI's WEBSTACK_REAL_NODE=1 must not demand a real node."""
    monkeypatch.setenv(preflight.ENV, "1")
    cluster = LocalCluster(nodes=1, workdir=tmp_path, binaries=_NO_BINARIES)
    cluster.start_real_node(cluster.with_real_node)
    assert cluster.real_node is None and cluster.real_node_reason == "not asked for"


def test_required_and_unavailable_is_an_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(preflight.ENV, "1")
    monkeypatch.setattr(preflight, "unavailable", lambda: "it needs root (running as uid 1000)")
    cluster = LocalCluster(nodes=1, workdir=tmp_path, binaries=_NO_BINARIES, with_real_node=None)
    with pytest.raises(Exception, match=r"real node is required \(WEBSTACK_REAL_NODE=1\) but it needs root"):
        cluster.start_real_node()


def test_wanted_but_unavailable_goes_on_with_the_reason(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(preflight.ENV, raising=False)
    monkeypatch.setattr(preflight, "unavailable", lambda: "the lab images are not built")
    cluster = LocalCluster(nodes=1, workdir=tmp_path, binaries=_NO_BINARIES, with_real_node=None)
    cluster.start_real_node()
    assert cluster.real_node is None and cluster.real_node_reason == "the lab images are not built"


def test_a_second_claim_is_refused_naming_the_holder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(host, "RUN_DIR", tmp_path / "run")
    first = host.claim(_layout(tmp_path / "a"), "10.244.0.0/16", _KUBE_PROXY)
    with pytest.raises(
        host.NodeBusy, match=rf"held by another cluster on this machine \(pid {os.getpid()}, "
    ):
        host.claim(_layout(tmp_path / "b"), "10.244.0.0/16", _KUBE_PROXY)
    first.release()
    host.claim(_layout(tmp_path / "c"), "10.244.0.0/16", _KUBE_PROXY).release()


def test_the_claim_records_the_kernel_settings_before_the_node_changes_them(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """What the kubelet and the bridge change machine-wide is saved first, so a stop (or the clean-up after
    a crash) can put it back."""
    monkeypatch.setattr(host, "RUN_DIR", tmp_path / "run")
    claim = host.claim(_layout(tmp_path / "a"), "10.244.0.0/16", _KUBE_PROXY)
    try:
        recorded = json.loads((tmp_path / "run" / "state.json").read_text())
        assert recorded["sysctls"] == {
            name: (Path("/proc/sys") / name).read_text().strip() for name in host.SYSCTLS
        }
        assert {"kernel/panic_on_oops", "vm/overcommit_memory", "net/ipv4/ip_forward"} <= set(
            recorded["sysctls"]
        )
        assert recorded["pod_cidr"] == "10.244.0.0/16" and recorded["root"] == str(
            tmp_path / "a" / "real-node"
        )
    finally:
        claim.release()
    assert not (tmp_path / "run" / "state.json").exists()


def test_kwok_never_hands_out_the_real_node_pod_addresses() -> None:
    kwok = ipaddress.ip_network(KWOK_POD_CIDR, strict=False)
    assert not kwok.overlaps(ipaddress.ip_network(POD_SUBNET))

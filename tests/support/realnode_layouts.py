"""A real node's layout for unit tests of what is rendered from it: addresses and ports that no test binds."""

from __future__ import annotations

from pathlib import Path

from kubelocal.realnode.layout import NodeLayout

PAUSE = "webstack.lab/pause:0.1.7"


def example_layout(root: Path) -> NodeLayout:
    return NodeLayout(
        root=root / "real-node",
        images_root=root / "containerd",
        pause_image=PAUSE,
        helper_image="webstack.lab/python:3.11-bookworm",
        upstream_dns=("192.0.2.53",),
        kubelet_port=10250,
        kubelet_healthz_port=10248,
        proxy_healthz_port=10256,
        proxy_metrics_port=10249,
        dns_health_port=8080,
        dns_ready_port=8181,
    )

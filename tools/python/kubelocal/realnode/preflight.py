"""Whether this machine can run the real node, in one line when it cannot, and the node as configured.

`WEBSTACK_REAL_NODE=0` opts out; `=1` makes its absence an error (CI, where it must be there); unset, the
harness starts it where the machine allows (root, the binaries and lab images built) and says why not
otherwise.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kubelocal.binaries import BinariesMissing, NodeBinaries, cache_dir
from kubelocal.process import Supervised
from kubelocal.realnode.host import NodeBusy
from kubelocal.realnode.node import Kubectl, RealNode
from kubelocal.wait import GiveUp, Timeout
from labimages import LabImage, LabImagesError, lab_images, reference_of

ENV = "WEBSTACK_REAL_NODE"


class RealNodeRequired(RuntimeError):
    """WEBSTACK_REAL_NODE=1 and the node could not start."""


# What a failed start raises: the harness reports it in one line and goes on with kwok.
NODE_FAILURES = (
    NodeBusy,
    BinariesMissing,
    Timeout,
    GiveUp,
    RuntimeError,
    OSError,
    subprocess.SubprocessError,
)


def required() -> bool:
    return os.environ.get(ENV) == "1"


def unavailable() -> str | None:
    """Why the real node cannot start here, or None when it can."""
    if os.environ.get(ENV) == "0":
        return f"off ({ENV}=0)"
    if os.geteuid() != 0:
        return f"it needs root (running as uid {os.geteuid()}): containers, mounts, the node address"
    try:
        NodeBinaries.locate()
    except BinariesMissing as e:
        return str(e)
    try:
        lab_images()
    except LabImagesError as e:
        return str(e)
    return None


def node_images() -> tuple[list[LabImage], str, str]:
    """Every lab image, the pause image and the provisioner's helper image (it needs a shell, mkdir and rm:
    the lab's Python base has them)."""
    images = lab_images()
    return images, reference_of("webstack.lab/pause", images), reference_of("webstack.lab/python", images)


def start_node(
    *,
    wanted: bool | None,
    root: Path,
    pki_dir: Path,
    server_url: str,
    cluster_cidr: str,
    kubectl: Kubectl,
    components: dict[str, Supervised],
    logs_dir: Path,
) -> tuple[RealNode | None, str]:
    """The started node, or None and one line saying why not; with WEBSTACK_REAL_NODE=1 (and the node
    wanted) its absence raises. `wanted=False`: a cluster that did not ask for one (a harness test's own)."""
    if wanted is False:
        return None, "not asked for"
    reason = unavailable()
    if reason is None:
        images, pause, helper = node_images()
        node = RealNode(
            root=root,
            images_root=cache_dir() / "real-node" / "containerd",
            pki_dir=pki_dir,
            server_url=server_url,
            cluster_cidr=cluster_cidr,
            kubectl=kubectl,
            components=components,
            logs_dir=logs_dir,
            images=images,
            pause_image=pause,
            helper_image=helper,
        )
        try:
            node.start()
            return node, ""
        except NODE_FAILURES as e:
            reason = "it did not start: " + (str(e) or type(e).__name__).splitlines()[0]
    if required():
        raise RealNodeRequired(f"a real node is required ({ENV}=1) but {reason}")
    return None, reason

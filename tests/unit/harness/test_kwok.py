"""kubelocal.kwok: kwok manages exactly the nodes the harness creates, hands out addresses apart from the
real node's, and a node list is Ready only when every node in it is."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

from kubelocal import kwok
from kubelocal.control_plane import POD_CIDR


def _flag(argv: list[str], name: str) -> list[str]:
    return [a.partition("=")[2] for a in argv if a.partition("=")[0] == name]


def test_kwok_manages_the_annotated_nodes_only_and_within_the_pod_range() -> None:
    argv = kwok.kwok_command(Path("/bin/kwok"), Path("/w/admin.kubeconfig"), Path("/w/stages.yaml"), 4321)
    assert argv[0] == "/bin/kwok"
    assert _flag(argv, "--manage-all-nodes") == ["false"]
    key, _, value = _flag(argv, "--manage-nodes-with-annotation-selector")[0].partition("=")
    assert kwok.kwok_node("kwok-node-0")["metadata"]["annotations"][key] == value
    assert _flag(argv, "--config") == ["/w/stages.yaml", str(kwok.EXTRA_KWOK_STAGES)]
    assert kwok.EXTRA_KWOK_STAGES.is_file()
    kwok_range = ipaddress.IPv4Network(_flag(argv, "--cidr")[0], strict=False)
    assert kwok_range.subnet_of(ipaddress.IPv4Network(POD_CIDR))
    assert _flag(argv, "--server-address") == ["127.0.0.1:4321"]


def test_nodes_are_listed_one_per_zone_with_room_for_any_test() -> None:
    listed = kwok.kwok_nodes(3)
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    names = [n["metadata"]["name"] for n in listed["items"]]
    assert names == ["kwok-node-0", "kwok-node-1", "kwok-node-2"]
    zones = {n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in listed["items"]}
    assert zones == {"local-0", "local-1", "local-2"}
    status = listed["items"][0]["status"]
    assert status["capacity"] == status["allocatable"] and status["allocatable"]["pods"] == "1000"


def test_the_storage_class_is_the_default_and_provisioned_by_kwok() -> None:
    sc = kwok.storage_class()
    assert sc["metadata"]["annotations"]["storageclass.kubernetes.io/is-default-class"] == "true"
    assert sc["provisioner"] == "kwok.x-k8s.io/volume" and sc["volumeBindingMode"] == "Immediate"


def _node(ready: str | None) -> dict[str, Any]:
    conditions = (
        []
        if ready is None
        else [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": ready}]
    )
    return {"status": {"conditions": conditions}}


def test_nodes_are_ready_when_there_are_enough_and_every_one_is_ready() -> None:
    assert kwok.nodes_ready({"items": [_node("True"), _node("True")]}, 2)
    assert kwok.nodes_ready({"items": [_node("True"), _node("True"), _node("True")]}, 2)
    assert not kwok.nodes_ready({"items": [_node("True")]}, 2)
    assert not kwok.nodes_ready({"items": [_node("True"), _node("False")]}, 2)
    assert not kwok.nodes_ready({"items": [_node("True"), _node(None)]}, 2)
    assert not kwok.nodes_ready({"items": [_node("True"), {}]}, 2)


def test_the_stages_written_for_kwok_leave_the_real_nodes_claims_alone(tmp_path: Path) -> None:
    cached = tmp_path / "cached.yaml"
    cached.write_text("expression: >-\n  has(self.spec.storageClassName)\n")
    written = kwok.write_stages(cached, tmp_path)
    assert written == tmp_path / "kwok-stages.yaml"
    assert (
        "has(self.spec.storageClassName) && self.spec.storageClassName != 'local-path'" in written.read_text()
    )

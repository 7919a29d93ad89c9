"""kubelocal.argo_rollouts: the newest cached controller is found beside the Kubernetes binaries, or none."""

from __future__ import annotations

from pathlib import Path

from kubelocal import argo_rollouts


def test_the_newest_built_controller_is_chosen(tmp_path: Path) -> None:
    kubernetes_dir = tmp_path / "kubernetes-v1"
    assert argo_rollouts.find_controller(kubernetes_dir) is None
    for version in ("v1.7.0", "v1.8.3"):
        (tmp_path / f"argo-rollouts-{version}").mkdir()
        (tmp_path / f"argo-rollouts-{version}" / "rollouts-controller").write_text("")
    assert (
        argo_rollouts.find_controller(kubernetes_dir)
        == tmp_path / "argo-rollouts-v1.8.3" / "rollouts-controller"
    )


def test_one_replica_without_leader_election_on_the_ports_given() -> None:
    argv = argo_rollouts.controller_command(Path("/bin/rc"), Path("/w/admin.kubeconfig"), 1001, 1002)
    assert argv[0] == "/bin/rc"
    assert {
        "--kubeconfig=/w/admin.kubeconfig",
        "--leader-elect=false",
        "--healthzPort=1001",
        "--metricsPort=1002",
    } <= set(argv)

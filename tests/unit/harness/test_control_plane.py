"""kubelocal.control_plane: the components' command lines name each flag once, share one set of address
ranges and one ServiceAccount key pair, and keep every component on loopback."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from kubelocal import control_plane
from kubelocal.control_plane import (
    apiserver_command,
    controller_manager_flags,
    etcd_command,
    kube_component_command,
)

PKI = Path("/w/pki")


def _flags(argv: list[str]) -> dict[str, str]:
    """`--name=value` flags by name; a flag named twice fails here, since the later one would win silently."""
    pairs = [a.partition("=") for a in argv[1:]]
    names = [name for name, _, _ in pairs]
    assert len(names) == len(set(names)), f"a flag named twice: {sorted(names)}"
    return {name: value for name, _, value in pairs}


def _apiserver() -> list[str]:
    return apiserver_command(
        Path("/bin/kube-apiserver"),
        etcd_url="http://127.0.0.1:2379",
        port=6443,
        pki_dir=PKI,
        tokens_file=Path("/w/tokens.csv"),
        kubelet_client=(PKI / "kubelet-client.crt", PKI / "kubelet-client.key"),
        audit_flags=["--audit-log-path=/w/logs/audit.log"],
    )


def test_etcd_serves_one_member_on_the_urls_it_is_given() -> None:
    argv = etcd_command(Path("/bin/etcd"), Path("/w/etcd"), "http://127.0.0.1:1", "http://127.0.0.1:2")
    flags = _flags(argv)
    assert argv[0] == "/bin/etcd" and flags["--data-dir"] == "/w/etcd"
    assert flags["--listen-client-urls"] == flags["--advertise-client-urls"] == "http://127.0.0.1:1"
    assert flags["--listen-peer-urls"] == flags["--initial-advertise-peer-urls"] == "http://127.0.0.1:2"
    assert flags["--initial-cluster"] == "default=http://127.0.0.1:2"


def test_the_apiserver_listens_on_loopback_and_reaches_its_etcd() -> None:
    flags = _flags(_apiserver())
    assert flags["--bind-address"] == flags["--advertise-address"] == "127.0.0.1"
    assert flags["--secure-port"] == "6443" and flags["--etcd-servers"] == "http://127.0.0.1:2379"
    assert flags["--authorization-mode"] == "Node,RBAC"
    assert flags["--token-auth-file"] == "/w/tokens.csv"
    assert flags["--kubelet-client-certificate"] == str(PKI / "kubelet-client.crt")
    assert flags["--kubelet-client-key"] == str(PKI / "kubelet-client.key")
    assert flags["--audit-log-path"] == "/w/logs/audit.log"


def test_service_account_tokens_are_signed_by_one_key_pair_and_issuer() -> None:
    apiserver = _flags(_apiserver())
    manager = _flags(["kube-controller-manager", *controller_manager_flags(PKI)])
    assert apiserver["--service-account-issuer"] == apiserver["--api-audiences"] == control_plane.ISSUER
    assert apiserver["--service-account-signing-key-file"] == manager["--service-account-private-key-file"]
    assert apiserver["--service-account-key-file"] == str(PKI / "sa.pub")
    assert manager["--root-ca-file"] == apiserver["--client-ca-file"] == str(PKI / "ca.crt")


def test_the_address_ranges_agree_between_components() -> None:
    apiserver = _flags(_apiserver())
    manager = _flags(["kube-controller-manager", *controller_manager_flags(PKI)])
    assert apiserver["--service-cluster-ip-range"] == manager["--service-cluster-ip-range"]
    services = ipaddress.ip_network(control_plane.SERVICE_CIDR)
    assert ipaddress.ip_address(control_plane.SERVICE_IP) in services
    assert manager["--cluster-cidr"] == control_plane.POD_CIDR
    assert not ipaddress.ip_network(control_plane.POD_CIDR).overlaps(services)


def test_a_kube_component_uses_the_admin_kubeconfig_and_appends_its_own_flags() -> None:
    kubeconfig = Path("/w/admin.kubeconfig")
    argv = kube_component_command(Path("/bin/kube-scheduler"), kubeconfig, 10259, "--extra=1")
    flags = _flags(argv)
    for name in ("--kubeconfig", "--authentication-kubeconfig", "--authorization-kubeconfig"):
        assert flags[name] == str(kubeconfig)
    assert flags["--leader-elect"] == "false" and flags["--secure-port"] == "10259"
    assert argv[-1] == "--extra=1"

"""The control plane's command lines: etcd, kube-apiserver, the controller manager and the scheduler.

Pure functions of ports and paths, so the flags a real cluster would need can be read (and tested) apart
from the processes that run them (kubelocal.cluster starts and waits for them).
"""

from __future__ import annotations

from pathlib import Path

SERVICE_CIDR = "10.96.0.0/16"
SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
ISSUER = "https://kubernetes.default.svc.cluster.local"


def etcd_command(binary: Path, data_dir: Path, client_url: str, peer_url: str) -> list[str]:
    """A one-member etcd on loopback."""
    return [
        str(binary),
        f"--data-dir={data_dir}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=default={peer_url}",
        "--unsafe-no-fsync",  # throwaway data: durability buys nothing, fsync costs seconds
        "--log-level=warn",
    ]


def apiserver_command(
    binary: Path,
    *,
    etcd_url: str,
    port: int,
    pki_dir: Path,
    tokens_file: Path,
    kubelet_client: tuple[Path, Path],
    audit_flags: list[str],
) -> list[str]:
    """kube-apiserver as kubeadm would run it, on loopback: tokens, RBAC, ServiceAccounts and audit."""
    p = pki_dir
    return [
        str(binary),
        f"--etcd-servers={etcd_url}",
        "--bind-address=127.0.0.1",
        "--advertise-address=127.0.0.1",
        f"--secure-port={port}",
        f"--tls-cert-file={p / 'apiserver.crt'}",
        f"--tls-private-key-file={p / 'apiserver.key'}",
        f"--client-ca-file={p / 'ca.crt'}",
        f"--token-auth-file={tokens_file}",
        "--authorization-mode=Node,RBAC",
        # The default plugin set of a real cluster, plus NodeRestriction as kubeadm enables it.
        "--enable-admission-plugins=NodeRestriction",
        f"--service-account-issuer={ISSUER}",
        f"--api-audiences={ISSUER}",
        f"--service-account-key-file={p / 'sa.pub'}",
        f"--service-account-signing-key-file={p / 'sa.key'}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
        "--allow-privileged=true",
        # logs, exec and port-forward reach a real node's kubelet with this identity, at its node IP.
        f"--kubelet-client-certificate={kubelet_client[0]}",
        f"--kubelet-client-key={kubelet_client[1]}",
        "--kubelet-preferred-address-types=InternalIP",
        "--profiling=false",
        # The endpoint reconciler refuses a loopback advertise address (as envtest found too); the
        # `kubernetes` Service's endpoints are not used by anything on this host.
        "--endpoint-reconciler-type=none",
        *audit_flags,
        "--v=1",
    ]


def kube_component_command(binary: Path, kubeconfig: Path, port: int, *flags: str) -> list[str]:
    """kube-controller-manager or kube-scheduler: the admin kubeconfig, and health on its own port."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--authentication-kubeconfig={kubeconfig}",
        f"--authorization-kubeconfig={kubeconfig}",
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        f"--secure-port={port}",
        "--v=1",
        *flags,
    ]


def controller_manager_flags(pki_dir: Path) -> list[str]:
    """What the controller manager adds: it signs ServiceAccount tokens and allocates pod ranges."""
    return [
        f"--service-account-private-key-file={pki_dir / 'sa.key'}",
        f"--root-ca-file={pki_dir / 'ca.crt'}",
        "--use-service-account-credentials=true",
        "--controllers=*",
        f"--cluster-cidr={POD_CIDR}",
        f"--service-cluster-ip-range={SERVICE_CIDR}",
    ]

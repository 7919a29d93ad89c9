"""NetworkPolicy enforcement on the real node: kube-router's network policy controller, its command line,
when it enforces, and which iptables rules and ipsets a stop (or the clean-up after a crash) removes (no
I/O: `host` runs the commands, `node` starts the process).

Only kube-router's firewall runs: its BGP router, IPVS service proxy and CNI stay off, since the node
already has the bridge plugin and kube-proxy (docs/architecture.md, "Network connectivity"). It listens on
no port (health and metrics off) and only reads the API (objects.network_policy_controller).
"""

from __future__ import annotations

import shlex
from pathlib import Path

from kubelocal.realnode.layout import NODE_NAME

# The names kube-router's network policy controller gives what it creates (pkg/controllers/netpol): its
# three top-level chains (jumped to from INPUT, FORWARD and OUTPUT), one chain per policy and per local
# pod, and one ipset per policy's sources and destinations (IPv6 sets carry an `inet6:` prefix).
CHAIN_PREFIXES = ("KUBE-ROUTER-", "KUBE-NWPLCY-", "KUBE-POD-FW-")
IPSET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-")
TOP_LEVEL_CHAINS = {
    "INPUT": "KUBE-ROUTER-INPUT",
    "FORWARD": "KUBE-ROUTER-FORWARD",
    "OUTPUT": "KUBE-ROUTER-OUTPUT",
}


def command_line(binary: Path, kubeconfig: Path, service_cidr: str) -> list[str]:
    """kube-router as a firewall alone. `--service-cluster-ip-range` is required by the firewall (it lets
    the node reach ClusterIPs); the node name is the kubelet's, so the controller finds its own pods (those
    whose hostIP is the node's)."""
    return [
        str(binary),
        f"--kubeconfig={kubeconfig}",
        f"--hostname-override={NODE_NAME}",
        "--run-firewall=true",
        "--run-router=false",
        "--run-service-proxy=false",
        "--run-loadbalancer=false",
        "--enable-cni=false",
        "--enable-ipv4=true",
        "--enable-ipv6=false",
        f"--service-cluster-ip-range={service_cidr}",
        # Health would listen on every address (":port"); readiness is read from iptables (`enforcing`).
        "--health-port=0",
        "--metrics-port=0",
        "--v=1",
    ]


def _chain_of_rule(line: str) -> tuple[str, list[str]] | None:
    """`-A CHAIN spec...` from iptables-save, as the chain and the rule's arguments (shell-quoted comments
    unquoted, as iptables takes them back)."""
    if not line.startswith("-A "):
        return None
    parts = shlex.split(line)
    return parts[1], parts[2:]


def _jump_target(spec: list[str]) -> str | None:
    for flag in ("-j", "-g"):
        if flag in spec and spec.index(flag) + 1 < len(spec):
            return spec[spec.index(flag) + 1]
    return None


def is_ours(chain: str) -> bool:
    return chain.startswith(CHAIN_PREFIXES)


def enforcing(filter_rules: str) -> bool:
    """Whether `iptables-save -t filter` shows the controller in place: every top-level hook jumps to its
    chain (it creates them on its first sync, after its informers have synced)."""
    jumps = set()
    for line in filter_rules.splitlines():
        words = line.split()  # the hooks' jumps carry no quoted text worth parsing
        if line.startswith("-A ") and words[1] in TOP_LEVEL_CHAINS:
            jumps.add((words[1], _jump_target(words)))
    return all((hook, chain) in jumps for hook, chain in TOP_LEVEL_CHAINS.items())


def cleanup_commands(filter_rules: str, ipsets: list[str]) -> list[list[str]]:
    """What removes the controller's rules, chains and sets, given `iptables-save -t filter` and
    `ipset list -n`; empty when it left nothing. Jumps into its chains from others go first, then its
    chains are flushed (so none references another) and deleted, and only then its sets, which the kernel
    refuses to destroy while a rule matches on them. Other programs' rules and sets are left alone."""
    jumps: list[list[str]] = []
    chains: list[str] = []
    for line in filter_rules.splitlines():
        words = line.split()
        if line.startswith(":") and is_ours(words[0][1:]):
            chains.append(words[0][1:])
        # Only another chain's jump into ours is parsed: kube-router's own rules carry free-text comments
        # (a pod's name, `pod\'s`), and they go with their chains' flush.
        elif line.startswith("-A ") and not is_ours(words[1]) and any(p in line for p in CHAIN_PREFIXES):
            chain, spec = _chain_of_rule(line) or ("", [])
            target = _jump_target(spec)
            if target is not None and is_ours(target):
                jumps.append(["iptables", "-t", "filter", "-D", chain, *spec])
    flush = [["iptables", "-t", "filter", "-F", c] for c in chains]
    delete = [["iptables", "-t", "filter", "-X", c] for c in chains]
    sets = [["ipset", "destroy", s] for s in ipsets if s.removeprefix("inet6:").startswith(IPSET_PREFIXES)]
    return [*jumps, *flush, *delete, *sets]

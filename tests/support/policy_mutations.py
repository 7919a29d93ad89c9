"""Ways of widening one allow rule of a rendered NetworkPolicy at a time: what both connectivity tests
(the analyzer's and the real packets') apply to show that their comparison with the table bites."""

from __future__ import annotations

import copy
import ipaddress
from collections.abc import Iterator
from typing import Any

ANYWHERE = [{"ipBlock": {"cidr": "0.0.0.0/0"}}, {"ipBlock": {"cidr": "::/0"}}]


def _parent(cidr: str) -> str:
    """The network one prefix bit wider: 10.0.0.0/24 -> 10.0.0.0/23."""
    return str(ipaddress.ip_network(cidr).supernet())


def _peer_mutations(peer: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    if "ipBlock" in peer:
        cidr = peer["ipBlock"]["cidr"]
        if not cidr.endswith("/0"):
            yield f"widen {cidr} to {_parent(cidr)}", {"ipBlock": {"cidr": _parent(cidr)}}
        return
    for key in ("podSelector", "namespaceSelector"):
        if key not in peer:
            continue
        if len(peer) > 1:
            yield f"drop {key}", {k: v for k, v in peer.items() if k != key}
        yield f"empty {key}", {**peer, key: {}}
        labels = peer[key].get("matchLabels", {})
        if len(labels) > 1:
            for label in labels:
                rest = {k: v for k, v in labels.items() if k != label}
                yield f"drop {key} label {label}", {**peer, key: {"matchLabels": rest}}


def rule_mutations(policy: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Each way of widening one allow rule of the policy: (what, the widened policy)."""
    for direction, peers_key in (("ingress", "from"), ("egress", "to")):
        for index, rule in enumerate(policy["spec"].get(direction, [])):
            where = f"{policy['metadata']['name']} {direction}[{index}]"

            def widened(new_rule: dict[str, Any], d: str = direction, i: int = index) -> dict[str, Any]:
                out = copy.deepcopy(policy)
                out["spec"][d][i] = new_rule
                return out

            if "ports" in rule:
                yield f"{where}: allow every port", widened({k: v for k, v in rule.items() if k != "ports"})
                for port in rule["ports"]:
                    other = {**port, "protocol": "UDP" if port["protocol"] == "TCP" else "TCP"}
                    if other not in rule["ports"]:
                        what = f"{where}: also {other['protocol']} {other['port']}"
                        yield what, widened({**rule, "ports": [*rule["ports"], other]})
            peers = rule.get(peers_key)
            if peers is None:
                continue
            if peers != ANYWHERE:
                yield f"{where}: any address", widened({**rule, peers_key: ANYWHERE})
            for p, peer in enumerate(peers):
                for what, new_peer in _peer_mutations(peer):
                    new_peers = copy.deepcopy(peers)
                    new_peers[p] = new_peer
                    yield f"{where} peer {p}: {what}", widened({**rule, peers_key: new_peers})


def widenings(policies: list[dict[str, Any]]) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """Every single widening of a set of policies: (what, the whole set with that one rule widened)."""
    for index, policy in enumerate(policies):
        for what, widened in rule_mutations(policy):
            yield what, [*policies[:index], widened, *policies[index + 1 :]]

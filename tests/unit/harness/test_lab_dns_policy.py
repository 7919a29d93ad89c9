"""The lab's DNS allowance on the real node (localdemo.lab_stack.node_dns_policy): the node address on
port 53, for exactly the stack pods the connectivity table lets resolve names, and for the operator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kubelocal.realnode.layout import NODE_IP
from localdemo import operator_install
from localdemo.lab_stack import DNS_CLIENTS, lab_namespace, node_dns_policy, stack_node_dns_policy
from webstack_operator.builders.credentials_rotation import COMPONENT as ROTATION
from webstack_operator.builders.migrate import COMPONENT as MIGRATE
from webstack_operator.objects import labels

TABLE = Path(__file__).resolve().parents[3] / "docs" / "network-connectivity.yaml"
# The table's names for the stack's pods, as `app.kubernetes.io/component` values.
COMPONENTS = {
    "frontend": labels.FRONTEND,
    "backend": labels.BACKEND,
    "migration Job": MIGRATE,
    "rotation Job": ROTATION,
}


def _dns_row() -> dict[str, Any]:
    """The table's DNS rows as one: every pod that resolves names (in any sample), on the same ports."""
    rows = [r for r in yaml.safe_load(TABLE.read_text())["rows"] if r["to"] == ["cluster DNS pods"]]
    assert rows and all(r["ports"] == rows[0]["ports"] for r in rows)
    return {"from": [name for r in rows for name in r["from"]], "ports": rows[0]["ports"]}


def test_selects_the_pods_the_table_lets_resolve_names() -> None:
    row = _dns_row()
    assert set(DNS_CLIENTS) == {COMPONENTS[name] for name in row["from"]}
    selector = stack_node_dns_policy("ns")["spec"]["podSelector"]
    assert selector["matchLabels"] == {labels.PART_OF: labels.PART_OF_VALUE}
    assert selector["matchExpressions"] == [
        {"key": labels.COMPONENT, "operator": "In", "values": list(DNS_CLIENTS)}
    ]


def test_allows_the_node_address_on_the_tables_dns_ports_and_nothing_else() -> None:
    spec = stack_node_dns_policy("ns")["spec"]
    assert spec["policyTypes"] == ["Egress"]  # no ingress rule: it opens nothing towards the pods
    [rule] = spec["egress"]
    assert rule["to"] == [{"ipBlock": {"cidr": f"{NODE_IP}/32"}}]
    ports = {f"{p['protocol']} {p['port']}" for p in rule["ports"]}
    assert ports == set(_dns_row()["ports"])


def test_the_namespace_comes_before_the_policy_in_it() -> None:
    items = lab_namespace("stack-ns")["items"]
    assert [i["kind"] for i in items] == ["Namespace", "NetworkPolicy"]
    assert items[1]["metadata"]["namespace"] == items[0]["metadata"]["name"] == "stack-ns"


def test_the_operator_gets_the_same_allowance_for_its_own_pods() -> None:
    """The operator resolves `kubernetes.default.svc`; its install adds the allowance for its pods only."""
    policy = node_dns_policy(operator_install.NAMESPACE, operator_install.POD_SELECTOR)
    assert policy["metadata"]["namespace"] == operator_install.NAMESPACE
    key, value = operator_install.POD_LABEL.split("=")
    assert policy["spec"]["podSelector"] == {"matchLabels": {key: value}}
    assert policy["spec"]["egress"] == stack_node_dns_policy("ns")["spec"]["egress"]

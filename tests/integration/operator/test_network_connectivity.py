"""What the samples' NetworkPolicies allow, as cyclonus's policy engine computes it, is exactly the intended
table (docs/network-connectivity.yaml, shown in docs/architecture.md): nothing more, nothing less.

Each sample is rendered by the operator's own code (`render_file`). Its workloads (Deployments,
StatefulSets, the Rollout, the Job) give the pods of the stack; stand-ins give everything around it:
the cluster DNS pods, Prometheus, pods in the same and other namespaces (some with look-alike labels),
another stack's pods, the ALB, hosts in the VPC and on the internet, and an address just outside every
network a policy names. Every connection with a stack pod on at least one end, on every port of interest,
is put to cyclonus (tools/go/cyclonus, built by `make cluster-binaries`); its verdicts per direction are
compared with the table's rows expanded over the same stand-ins. A row whose source is a stack pod is an
egress allow of that pod, one whose destination is a stack pod an ingress allow; a connection between
two stack pods needs both. Then each allow rule of each policy is widened in turn, and the comparison must
fail every time, so this test is shown to bite.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.support.connectivity_model import SAMPLES, Sample, load_sample, set_differences
from tests.support.cyclonus import Verdicts, analyze
from tests.support.policy_mutations import widenings as all_widenings


def differences(sample: Sample, verdicts: Verdicts) -> list[str]:
    """Every way the analyzer's answer differs from the table, one line each; empty when they agree."""
    return [
        *set_differences("egress", verdicts.egress, sample.egress),
        *set_differences("ingress", verdicts.ingress, sample.ingress),
        *set_differences("connection", verdicts.connections, sample.connections),
    ]


@pytest.mark.parametrize("name", SAMPLES)
def test_policies_allow_exactly_the_table(name: str, tmp_path: Path) -> None:
    sample = load_sample(name)
    stack = sorted(e.name for e in sample.endpoints if e.in_stack)
    assert len(stack) >= 3, stack
    assert sample.connections, "the table promises nothing for this sample"
    [verdicts] = analyze([sample.policies], sample.endpoints, sample.ports, tmp_path)
    problems = differences(sample, verdicts)
    assert not problems, f"{name}: {len(problems)} differences:\n" + "\n".join(problems[:60])


# ---------------------------------------------------------------------------------------------------------
# Widening any allow rule must be caught (the widenings: tests/support/policy_mutations.py)
# ---------------------------------------------------------------------------------------------------------

# Widenings no analyzer can see, because another rule of the same policy already allows everything they
# add: with ingress.sourceCidrs unset and the Ingress on, the backend admits every private address (every
# pod included) on TCP 8000, so its rules for the frontend (ingress[0]) and Prometheus (ingress[2]) add
# nothing on that port. Widening them in any other way (another port, a public address) is caught.
INVISIBLE = {
    "external-db": {
        "shop-backend ingress[0] peer 0: empty podSelector",
        "shop-backend ingress[0] peer 0: drop podSelector label app.kubernetes.io/part-of",
        "shop-backend ingress[0] peer 0: drop podSelector label app.kubernetes.io/instance",
        "shop-backend ingress[0] peer 0: drop podSelector label app.kubernetes.io/component",
        "shop-backend ingress[2] peer 0: empty namespaceSelector",
    }
}


@pytest.mark.parametrize("name", SAMPLES)
def test_widening_any_allow_rule_is_caught(name: str, tmp_path: Path) -> None:
    sample = load_sample(name)
    widenings = list(all_widenings(sample.policies))
    tried = len(widenings)
    all_verdicts = analyze([policies for _, policies in widenings], sample.endpoints, sample.ports, tmp_path)
    uncaught = [
        what
        for (what, _), verdicts in zip(widenings, all_verdicts, strict=True)
        if not differences(sample, verdicts)
    ]
    assert tried >= 20, tried
    expected = INVISIBLE.get(name, set())
    assert set(uncaught) == expected, (
        f"{name}: of {tried} widenings, these pass unnoticed:\n"
        + "\n".join(sorted(set(uncaught) - expected))
        + "\nand these, expected to, were caught: "
        + ", ".join(sorted(expected - set(uncaught)))
    )

"""The hardened pod's security contexts."""

from __future__ import annotations

from webstack_operator.builders.hardening import container_security_context, pod_security_context


def test_security_contexts() -> None:
    assert pod_security_context(70, 70)["runAsNonRoot"] is True
    sc = container_security_context()
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False

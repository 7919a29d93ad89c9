"""StackContext: validated name, derived decisions in one place."""

from __future__ import annotations

import pytest
from tests.support.rendered_stacks import NO_OPTIONAL_APIS, SETTINGS, make_stack, spec_of

from webstack_operator.api.spec import SpecError
from webstack_operator.builders.context import StackContext

CANARY = {
    "delivery": {
        "strategy": "Canary",
        "steps": [{"setWeight": 50}],
        "analysis": {"prometheusAddress": "http://p:9090"},
    }
}


def test_name_is_validated() -> None:
    with pytest.raises(SpecError, match=r"metadata\.name"):
        StackContext(spec=spec_of(), name="Bad.Name", namespace="ns", settings=SETTINGS)
    with pytest.raises(SpecError):
        StackContext(spec=spec_of(), name="a" * 41, namespace="ns", settings=SETTINGS)


def test_decisions() -> None:
    ctx = make_stack(
        backend=CANARY, ingress={"enabled": True, "host": "a.example.com"}, backup={"enabled": True}
    )
    assert ctx.uses_rollout and ctx.analysis_enabled and ctx.alb_traffic_routing and ctx.backup_enabled
    assert ctx.monitoring_enabled and ctx.database_managed and ctx.cache_managed
    off = make_stack(capabilities=NO_OPTIONAL_APIS, backend=CANARY, backup={"enabled": True})
    assert not (off.uses_rollout or off.analysis_enabled or off.monitoring_enabled or off.backup_enabled)


def test_credentials_secret() -> None:
    assert make_stack().credentials_secret == "shop-postgres"
    assert make_stack(database={"credentials": {"secretRef": {"name": "x"}}}).credentials_secret == "x"

"""The rendered PrometheusRules, checked and unit-tested by a real promtool (from the binaries cache).

`promtool check rules` parses every expression and annotation template; `promtool test rules` feeds each
alert synthetic series (tests/support/alert_scenarios.py) and checks it fires when it should, with the
labels and annotations it should, and stays silent otherwise. Thresholds, `for:` and the backup period
come from each stack's spec: the samples, and property-generated specs with monitoring on.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.support.alert_scenarios import Scenario, operator_scenarios, stack_scenarios
from tests.support.operator import SAMPLES
from tests.support.promtool import check_rules, promtool, write_rules
from tests.support.promtool_tests import unit_test_files
from tests.support.rendered_stacks import SETTINGS, merge

from webstack_operator.api.monitoring_types import STACK_ALERTS
from webstack_operator.api.spec import parse_spec
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.operator_alerts import operator_prometheus_rule
from webstack_operator.builders.stack_objects import desired_objects

SAMPLE_FILES = ["webstack-minimal.yaml", "webstack-full.yaml", "webstack-demo.yaml"]


def sample_stack(file: str) -> StackContext:
    [doc] = [d for d in yaml.safe_load_all((SAMPLES / file).read_text()) if d]
    meta = doc["metadata"]
    return StackContext(
        spec=parse_spec(doc),
        name=meta["name"],
        namespace=meta.get("namespace", "default"),
        settings=SETTINGS,
        generated_password="p" * 32,
        generated_cache_password="c" * 32,
    )


def rendered_groups(ctx: StackContext) -> list[dict[str, Any]]:
    [rule] = [o for o in desired_objects(ctx) if o["kind"] == "PrometheusRule"]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


def assert_rules_hold(workdir: Path, groups: list[dict[str, Any]], scenarios: list[Scenario]) -> None:
    """check rules, then test rules with a scenario set covering every alert, firing and silent."""
    checked = check_rules(workdir, groups)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    rules = {r["alert"]: r for g in groups for r in g["rules"] if "alert" in r}
    covered = {s.alert for s in scenarios if s.alert in rules}
    assert covered == set(rules), f"alerts without scenarios: {set(rules) - covered}"
    for alert in rules:
        outcomes = {s.fires for s in scenarios if s.alert == alert}
        assert outcomes == {True, False}, f"{alert}: scenarios must both fire and stay silent"
    write_rules(workdir / "alerts.yml", groups)
    files = []
    relevant = [s for s in scenarios if s.alert in rules]
    for index, document in enumerate(unit_test_files("alerts.yml", rules, relevant)):
        path = workdir / f"alerts-test-{index}.yml"
        path.write_text(yaml.safe_dump(document, sort_keys=False))
        files.append(path.name)
    tested = promtool("test", "rules", *files, cwd=workdir)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert tested.stdout.count("SUCCESS") == len(files), tested.stdout


@pytest.mark.parametrize("sample", SAMPLE_FILES)
def test_sample_rules_check_and_fire_as_specified(sample: str, tmp_path: Path) -> None:
    ctx = sample_stack(sample)
    assert_rules_hold(tmp_path, rendered_groups(ctx), stack_scenarios(ctx))


def test_the_full_sample_renders_every_alert_alert_for_names() -> None:
    """`STACK_ALERTS` (the names `alertFor` accepts) is exactly what the builder renders when all is on."""
    everything = sample_stack("webstack-full.yaml")
    rendered = {r["alert"] for g in rendered_groups(everything) for r in g["rules"]}
    assert rendered == set(STACK_ALERTS)


def test_operator_rules_check_and_fire(tmp_path: Path) -> None:
    groups = operator_prometheus_rule()["spec"]["groups"]
    assert_rules_hold(tmp_path, groups, operator_scenarios())


def test_a_broken_rule_fails_the_unit_test(tmp_path: Path) -> None:
    """The harness can fail: an error-rate alert whose threshold was doubled misses the firing scenario."""
    ctx = sample_stack("webstack-full.yaml")
    groups = rendered_groups(ctx)
    limit = ctx.spec.monitoring.thresholds.error_rate
    for rule in groups[0]["rules"]:
        if rule["alert"] == "WebStackHighErrorRate":
            rule["expr"] = rule["expr"].replace(f"> {limit}", f"> {(1 + limit) / 2 + 0.01}")
    with pytest.raises(AssertionError, match="WebStackHighErrorRate: errors above the threshold"):
        assert_rules_hold(tmp_path, groups, stack_scenarios(ctx))


fractions = st.floats(0.01, 0.99).map(lambda x: round(x, 3))
monitored_specs = st.fixed_dictionaries(
    {
        "monitoring": st.fixed_dictionaries(
            {
                "enabled": st.just(True),
                "alerts": st.just(True),
                "thresholds": st.fixed_dictionaries(
                    {
                        "errorRate": fractions,
                        "p95LatencySeconds": st.sampled_from([0.005, 0.1, 0.3, 0.75, 2.0, 7.5, 9.99]),
                        "minCacheHitRatio": st.one_of(st.just(0.0), fractions),
                        "maxCacheBypassRatio": fractions,
                    }
                ),
                "alertFor": st.sampled_from(
                    [{}, {"default": "30s"}, {"WebStackBackupMissing": "1m", "default": "2m"}]
                ),
            }
        ),
        "backup": st.fixed_dictionaries(
            {
                "enabled": st.booleans(),
                "schedule": st.sampled_from(
                    ["0 3 * * *", "*/30 * * * *", "0 */6 * * *", "15 2 * * 0", "@hourly", "@every 90m"]
                ),
            }
        ),
        "cache": st.fixed_dictionaries({"mode": st.sampled_from(["Managed", "Disabled"])}),
        "database": st.sampled_from(
            [{"mode": "Managed"}, {"mode": "External", "credentials": {"secretRef": {"name": "db"}}}]
        ),
    }
)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=monitored_specs, name=st.sampled_from(["shop", "a", "payments-api"]))
def test_generated_specs_rules_check_and_fire_as_specified(
    spec: dict[str, Any], name: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    doc = {"metadata": {"name": name}, "spec": merge({"backend": {"image": "api:1.0.0"}}, spec)}
    ctx = StackContext(
        spec=parse_spec(doc),
        name=name,
        namespace="team-b",
        settings=SETTINGS,
        generated_password="p" * 32,
        generated_cache_password="c" * 32,
    )
    assert_rules_hold(tmp_path_factory.mktemp("rules"), rendered_groups(ctx), stack_scenarios(ctx))

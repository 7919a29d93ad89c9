"""Canary: steps, background analysis from the API's own metrics, ALB traffic routing."""

from __future__ import annotations

from typing import Any

from tests.support.rendered_stacks import make_stack

from webstack_contract import metric_names
from webstack_operator.builders.canary import analysis_template, canary_strategy
from webstack_operator.objects.labels import BACKEND, standard_labels
from webstack_operator.observe.cache import stack_of

ANALYSIS = {
    "prometheusAddress": "http://prometheus.monitoring:9090/",
    "minSuccessRate": 0.995,
    "maxP95LatencySeconds": 0.25,
}
STEPS = [{"setWeight": 20}, {"pause": {"duration": "2m"}}, {"setWeight": 50}, {"pause": {}}]


def _canary(analysis: bool = True, **sections: Any) -> Any:
    delivery: dict[str, Any] = {"strategy": "Canary", "steps": STEPS}
    if analysis:
        delivery["analysis"] = ANALYSIS
    return make_stack(backend={"delivery": delivery}, **sections)


def test_steps_translate_one_to_one() -> None:
    strategy = canary_strategy(_canary(analysis=False))["canary"]
    assert strategy["steps"] == [
        {"setWeight": 20},
        {"pause": {"duration": "2m"}},
        {"setWeight": 50},
        {"pause": {}},
    ]
    assert "analysis" not in strategy
    assert "trafficRouting" not in strategy


def test_background_analysis_passes_the_canary_hash() -> None:
    strategy = canary_strategy(_canary())["canary"]
    assert strategy["analysis"] == {
        "templates": [{"templateName": "shop-backend"}],
        "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}],
        "analysisRunMetadata": {"labels": standard_labels("shop", BACKEND)},
    }


def test_analysis_runs_carry_the_labels_the_operator_watches() -> None:
    run_labels = canary_strategy(_canary())["canary"]["analysis"]["analysisRunMetadata"]["labels"]
    assert stack_of({"metadata": {"namespace": "team-a", "labels": run_labels}}) == ("team-a", "shop")


def test_the_first_measurement_waits_one_interval_unless_told() -> None:
    template = analysis_template(_canary())
    assert template is not None
    assert {(m["initialDelay"], m["interval"]) for m in template["spec"]["metrics"]} == {("1m", "1m")}
    delivery = {
        "strategy": "Canary",
        "steps": STEPS,
        "analysis": {**ANALYSIS, "interval": "5s", "initialDelay": "20s", "failureLimit": 0},
    }
    short = analysis_template(make_stack(backend={"delivery": delivery}))
    assert short is not None
    metrics = short["spec"]["metrics"]
    assert {(m["initialDelay"], m["interval"], m["failureLimit"]) for m in metrics} == {("20s", "5s", 0)}


def test_analysis_template_uses_the_apis_metric_names() -> None:
    template = analysis_template(_canary())
    assert template is not None
    success, latency = template["spec"]["metrics"]
    assert success["provider"]["prometheus"]["address"] == "http://prometheus.monitoring:9090"
    query = success["provider"]["prometheus"]["query"]
    assert metric_names.HTTP_REQUESTS_TOTAL in query
    assert 'rollouts_pod_template_hash="{{args.canary-hash}}"' in query
    assert 'job="shop-backend-metrics"' in query and 'namespace="team-a"' in query
    assert success["successCondition"] == "len(result) > 0 && result[0] >= 0.995"
    assert success["failureCondition"] == "len(result) > 0 && result[0] < 0.995"
    assert (
        f"{metric_names.HTTP_REQUEST_DURATION_SECONDS}_bucket" in latency["provider"]["prometheus"]["query"]
    )
    assert latency["successCondition"] == "len(result) > 0 && result[0] <= 0.25"
    assert template["spec"]["args"] == [{"name": "canary-hash"}]


def test_no_analysis_without_monitoring_capability() -> None:
    from webstack_operator.config.operator_settings import Capabilities

    ctx = _canary(capabilities=Capabilities(prometheus_operator=False))
    assert analysis_template(ctx) is None
    assert "analysis" not in canary_strategy(ctx)["canary"]


def test_alb_ingress_gives_exact_weights() -> None:
    ctx = _canary(ingress={"enabled": True, "host": "shop.example.com"})
    assert canary_strategy(ctx)["canary"]["trafficRouting"] == {"alb": {"ingress": "shop", "servicePort": 80}}
    other = _canary(ingress={"enabled": True, "host": "shop.example.com", "className": "nginx"})
    assert "trafficRouting" not in canary_strategy(other)["canary"]

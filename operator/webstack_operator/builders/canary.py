"""Argo Rollouts canary: the Rollout's strategy and the AnalysisTemplate that judges a canary.

Analysis compares the canary pods' own success rate and p95 latency with the spec's thresholds. Pods are
told apart by the `rollouts-pod-template-hash` label, which the ServiceMonitor copies onto every sample
(`podTargetLabels`) and the Rollout passes to the template as the `canary-hash` argument. A measurement
with no traffic (NaN, or no series) meets neither condition: it is Inconclusive, which pauses the rollout
for a human instead of promoting a version nobody has exercised.

With an ALB Ingress, canary weights are exact (Argo rewrites the Ingress's action annotation). Without
one, Argo scales the canary to the weight's share of pods but pins the stable Service (the frontend's
upstream) on the stable pods, so only traffic sent to the canary Service reaches the canary.
"""

from webstack_operator.builders import promql
from webstack_operator.builders.context import StackContext
from webstack_operator.builders.metadata import object_meta
from webstack_operator.kube.jsondata import JSON
from webstack_operator.objects import labels

ROLLOUT_API_VERSION = "argoproj.io/v1alpha1"
HASH_LABEL = "rollouts-pod-template-hash"
HASH_METRIC_LABEL = "rollouts_pod_template_hash"  # how Prometheus spells the copied pod label
HASH_ARG = "canary-hash"
RATE_WINDOW = "2m"
SUCCESS_RATE_METRIC = "success-rate"
LATENCY_METRIC = "p95-latency"
SERVICE_PORT = 80


def _names(ctx: StackContext) -> tuple[str, str, str]:
    return ctx.child("backend"), ctx.child("backend-canary"), ctx.child("backend-metrics")


def analysis_template_name(ctx: StackContext) -> str:
    """The AnalysisTemplate's name."""
    return ctx.child("backend")


def canary_strategy(ctx: StackContext) -> JSON:
    """`spec.strategy` of the backend Rollout."""
    delivery = ctx.spec.backend.delivery
    stable, canary, _ = _names(ctx)
    steps: list[JSON] = []
    for step in delivery.steps or ():
        if step.set_weight is not None:
            steps.append({"setWeight": step.set_weight})
        elif step.pause is not None:
            steps.append({"pause": {"duration": step.pause.duration} if step.pause.duration else {}})
    strategy: JSON = {
        "stableService": stable,
        "canaryService": canary,
        "maxSurge": "25%",
        "maxUnavailable": 0,
        "steps": steps,
    }
    if ctx.analysis_enabled:
        strategy["analysis"] = {
            "templates": [{"templateName": analysis_template_name(ctx)}],
            "args": [{"name": HASH_ARG, "valueFrom": {"podTemplateHashValue": "Latest"}}],
            # The stack's labels on every AnalysisRun, so the operator's watches see them and status can
            # say which run passed or failed, with what measurement.
            "analysisRunMetadata": {"labels": labels.standard_labels(ctx.name, labels.BACKEND)},
        }
    if ctx.alb_traffic_routing:
        strategy["trafficRouting"] = {"alb": {"ingress": ctx.name, "servicePort": SERVICE_PORT}}
    return {"canary": strategy}


def analysis_template(ctx: StackContext) -> JSON | None:
    """The AnalysisTemplate, when the spec asks for analysis and the cluster can run it."""
    analysis = ctx.spec.backend.delivery.analysis
    if analysis is None or not ctx.analysis_enabled:
        return None
    _, _, metrics_service = _names(ctx)
    matchers = {
        "namespace": ctx.namespace,
        "job": metrics_service,
        HASH_METRIC_LABEL: "{{args." + HASH_ARG + "}}",
    }
    provider = {"address": analysis.prometheus_address.rstrip("/")}
    min_rate = analysis.min_success_rate
    max_p95 = analysis.max_p95_latency_seconds
    # The first measurement waits (one interval unless set), so the canary has served traffic before it
    # is judged.
    common = {
        "initialDelay": analysis.initial_delay or analysis.interval,
        "interval": analysis.interval,
        "failureLimit": analysis.failure_limit,
        "inconclusiveLimit": 2,
    }
    return {
        "apiVersion": ROLLOUT_API_VERSION,
        "kind": "AnalysisTemplate",
        "metadata": object_meta(ctx, analysis_template_name(ctx), labels.BACKEND),
        "spec": {
            "args": [{"name": HASH_ARG}],
            "metrics": [
                {
                    "name": SUCCESS_RATE_METRIC,
                    **common,
                    "successCondition": f"len(result) > 0 && result[0] >= {min_rate}",
                    "failureCondition": f"len(result) > 0 && result[0] < {min_rate}",
                    "provider": {
                        "prometheus": {**provider, "query": promql.success_ratio(matchers, RATE_WINDOW)}
                    },
                },
                {
                    "name": LATENCY_METRIC,
                    **common,
                    "successCondition": f"len(result) > 0 && result[0] <= {max_p95}",
                    "failureCondition": f"len(result) > 0 && result[0] > {max_p95}",
                    "provider": {
                        "prometheus": {
                            **provider,
                            "query": promql.latency_quantile(0.95, matchers, RATE_WINDOW),
                        }
                    },
                },
            ],
        },
    }

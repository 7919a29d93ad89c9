"""A local Prometheus pointed at a live stack the way the Prometheus Operator would point one.

The cluster's pods are simulated (kwok), so local processes stand in for them. What Prometheus scrapes and
evaluates still comes from the cluster: scrape configs derived from the live ServiceMonitors, Services and
Pods (localservices.scrape, so each target carries the labels the Prometheus Operator would give that pod),
and the rule files of the live PrometheusRules. Used by the demo and its e2e test.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from kubelocal.target import KubeTarget
from localservices.scrape import scrape_configs
from webstack_operator.kube.jsondata import JSON

OPERATOR_MONITOR = ("webstack-system", "webstack-operator")  # deploy/components/operator-monitoring


def live(cluster: KubeTarget, *args: str) -> JSON:
    return dict(json.loads(cluster.kubectl("get", *args, "-o", "json").stdout))


def backend_pods(cluster: KubeTarget, ns: str, workload: JSON) -> list[JSON]:
    """The backend workload's pods, by name (stable order to pair them with stand-ins)."""
    selector = ",".join(f"{k}={v}" for k, v in workload["spec"]["selector"]["matchLabels"].items())
    pods = live(cluster, "pods", "-n", ns, "-l", selector)["items"]
    return sorted((p for p in pods if "deletionTimestamp" not in p["metadata"]), key=_name)


def _name(obj: JSON) -> str:
    return str(obj["metadata"]["name"])


def backend_scrape_configs(
    cluster: KubeTarget, ns: str, name: str, pods: list[JSON], stand_ins: Mapping[str, str]
) -> list[JSON]:
    """The stack's ServiceMonitor (`<name>-backend`) as the Prometheus Operator would turn it into jobs."""
    monitor = live(cluster, "servicemonitor", f"{name}-backend", "-n", ns)
    services = live(cluster, "services", "-n", ns)["items"]
    return scrape_configs(monitor, services, pods, stand_ins)


def operator_scrape_configs(cluster: KubeTarget, deployment: JSON, metrics_address: str) -> list[JSON]:
    """The operator's own ServiceMonitor, its target the local operator process.

    The operator runs beside the cluster rather than as the Deployment's pod, so the pod this scrape stands
    in for is the one the Deployment would create: its template's labels and ports, in its namespace."""
    ns, monitor_name = OPERATOR_MONITOR
    monitor = live(cluster, "servicemonitor", monitor_name, "-n", ns)
    services = live(cluster, "services", "-n", ns)["items"]
    template = deployment["spec"]["template"]
    pod = {
        "metadata": {
            "name": f"{deployment['metadata']['name']}-local",
            "namespace": deployment["metadata"]["namespace"],
            "labels": template["metadata"]["labels"],
        },
        "spec": template["spec"],
        "status": {"podIP": "127.0.0.1"},
    }
    return scrape_configs(monitor, services, [pod], {_name(pod): metrics_address})


def rule_files(cluster: KubeTarget, ns: str, name: str) -> dict[str, JSON]:
    """The rules of the stack's PrometheusRule (`<name>-alerts`) and of the operator's own."""
    operator_ns, operator_rule = OPERATOR_MONITOR
    return {
        "stack": {"groups": live(cluster, "prometheusrule", f"{name}-alerts", "-n", ns)["spec"]["groups"]},
        "operator": {
            "groups": live(cluster, "prometheusrule", operator_rule, "-n", operator_ns)["spec"]["groups"]
        },
    }


def dashboard(cluster: KubeTarget, ns: str, name: str) -> JSON:
    """The stack's Grafana dashboard, from the ConfigMap the operator rendered (`<name>-dashboard`)."""
    data = live(cluster, "configmap", f"{name}-dashboard", "-n", ns)["data"]
    (text,) = data.values()
    return dict(json.loads(text))

"""The scrape configuration a Prometheus Operator would generate from a ServiceMonitor, for local processes.

In the local control plane pods are simulated (kwok), so a real process on loopback stands in for each pod
that matters; on the lab's real node the pods themselves are the targets (the host routes the pod range).
The target labels are the ones the Prometheus Operator gives an endpoint of a selected Service
(`namespace`, `service`, `pod`, `container`, `endpoint`, `job`, `instance`), plus the pod labels named in
`podTargetLabels` and the Service labels named in `targetLabels`, spelled as Prometheus spells them. Which
Services and pods are selected follows the ServiceMonitor's and the Service's selectors, so a selector that
would miss the pods in a real cluster misses them here too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from webstack_operator.kube.jsondata import JSON


def label_name(name: str) -> str:
    """A Kubernetes label key as a Prometheus label name (`rollouts-pod-template-hash` ->
    `rollouts_pod_template_hash`), as the Prometheus Operator's relabelling writes it."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _matches(selector: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def _container_port(pod: JSON, target_port: int | str) -> tuple[str, int] | None:
    """The container and port number a Service's targetPort names in this pod."""
    for container in pod["spec"]["containers"]:
        for port in container.get("ports") or []:
            if target_port in (port.get("name"), port["containerPort"]):
                return container["name"], int(port["containerPort"])
    return None


def _target(
    monitor: JSON, endpoint: JSON, service: JSON, pod: JSON, stand_ins: Mapping[str, str] | None
) -> JSON | None:
    """The static target for one pod behind one selected Service, or None when the Service does not select
    it, it has no such port, or nothing would answer for it (no stand-in; a real pod without an IP yet)."""
    spec = monitor["spec"]
    pod_labels = pod["metadata"].get("labels") or {}
    service_labels = service["metadata"].get("labels") or {}
    ip = (pod.get("status") or {}).get("podIP", "")
    answers = ip if stand_ins is None else stand_ins.get(pod["metadata"]["name"])
    if (
        not answers
        or pod["metadata"]["namespace"] != service["metadata"]["namespace"]
        or not _matches(service["spec"].get("selector") or {}, pod_labels)
    ):
        return None
    ports = [p for p in service["spec"]["ports"] if p.get("name") == endpoint["port"]]
    found = _container_port(pod, ports[0].get("targetPort", ports[0]["port"])) if ports else None
    if found is None:
        return None
    container, number = found
    labels = {
        "namespace": pod["metadata"]["namespace"],
        "service": service["metadata"]["name"],
        "pod": pod["metadata"]["name"],
        "container": container,
        "endpoint": endpoint["port"],
        "job": service_labels.get(spec.get("jobLabel", ""), service["metadata"]["name"]),
        "instance": f"{ip}:{number}",
    }
    for name in spec.get("podTargetLabels") or []:
        if name in pod_labels:
            labels[label_name(name)] = pod_labels[name]
    for name in spec.get("targetLabels") or []:
        if name in service_labels:
            labels[label_name(name)] = service_labels[name]
    target = labels["instance"] if stand_ins is None else stand_ins[pod["metadata"]["name"]]
    return {"targets": [target], "labels": labels}


def scrape_configs(
    monitor: JSON,
    services: Sequence[JSON],
    pods: Sequence[JSON],
    stand_ins: Mapping[str, str] | None = None,
) -> list[JSON]:
    """One scrape config per endpoint of `monitor`, named as the Prometheus Operator names its jobs.

    `stand_ins` maps a pod's name to the `host:port` of the process serving for it; pods without one are
    left out (nothing would answer). Without `stand_ins` the pods are real (the lab's real node, whose pod
    range the host routes): each pod with an IP is scraped at its IP and port, as the Prometheus
    Operator's job would. Raises when the monitor selects no pod at all: a scrape config that scrapes
    nothing would make every later assertion fail for a reason far from its cause.
    """
    meta, spec = monitor["metadata"], monitor["spec"]
    namespaces = spec.get("namespaceSelector", {}).get("matchNames") or [meta["namespace"]]
    selected = [
        s
        for s in services
        if s["metadata"]["namespace"] in namespaces
        and _matches(spec["selector"].get("matchLabels") or {}, s["metadata"].get("labels") or {})
    ]
    configs = []
    for index, endpoint in enumerate(spec["endpoints"]):
        targets = (
            _target(monitor, endpoint, service, pod, stand_ins) for service in selected for pod in pods
        )
        config: JSON = {
            "job_name": f"serviceMonitor/{meta['namespace']}/{meta['name']}/{index}",
            "metrics_path": endpoint.get("path", "/metrics"),
            "scheme": endpoint.get("scheme", "http"),
            "static_configs": [t for t in targets if t is not None],
        }
        if "interval" in endpoint:
            config["scrape_interval"] = endpoint["interval"]
        configs.append(config)
    if not any(c["static_configs"] for c in configs):
        candidates = (
            sorted(stand_ins) if stand_ins is not None else sorted(p["metadata"]["name"] for p in pods)
        )
        raise AssertionError(
            f"ServiceMonitor {meta['namespace']}/{meta['name']} selects none of the pods {candidates} "
            f"through the Services {[s['metadata']['name'] for s in services]}"
        )
    return configs

"""The scrape configuration derived from the rendered ServiceMonitor: the target labels a Prometheus Operator
gives a backend pod, and only the pods its selectors reach."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from tests.support.rendered_stacks import ANALYSED_CANARY, find, merge, render

from localservices.scrape import label_name, scrape_configs

CANARY = merge(ANALYSED_CANARY, {"monitoring": {"scrapeInterval": "1s"}})


def _pod(objects: list[dict[str, Any]], name: str, pod_hash: str) -> dict[str, Any]:
    """A pod as Argo Rollouts' ReplicaSet makes it from the Rollout's template, with the hash label."""
    template = copy.deepcopy(find(objects, "Rollout", "shop-backend")["spec"]["template"])
    labels = {**template["metadata"]["labels"], "rollouts-pod-template-hash": pod_hash}
    return {
        "metadata": {"name": name, "namespace": "team-a", "labels": labels},
        "spec": template["spec"],
        "status": {"podIP": "10.0.0.7"},
    }


def test_targets_carry_the_labels_the_prometheus_operator_gives_a_pod() -> None:
    objects = render(**CANARY)
    monitor = find(objects, "ServiceMonitor", "shop-backend")
    services = [o for o in objects if o["kind"] == "Service"]
    pods = [_pod(objects, "shop-backend-abc-1", "abc"), _pod(objects, "shop-backend-def-1", "def")]
    [config] = scrape_configs(monitor, services, pods, {"shop-backend-def-1": "127.0.0.1:9001"})
    assert config["job_name"] == "serviceMonitor/team-a/shop-backend/0"
    assert (config["metrics_path"], config["scrape_interval"]) == ("/metrics", "1s")
    # Only the metrics Service carries the scrape label; only the pod with a process behind it is a target.
    assert config["static_configs"] == [
        {
            "targets": ["127.0.0.1:9001"],
            "labels": {
                "namespace": "team-a",
                "service": "shop-backend-metrics",
                "pod": "shop-backend-def-1",
                "container": "backend",
                "endpoint": "http",
                "job": "shop-backend-metrics",
                "instance": "10.0.0.7:8000",
                "rollouts_pod_template_hash": "def",
            },
        }
    ]


def test_a_monitor_that_selects_no_pod_fails_loudly() -> None:
    objects = render(**CANARY)
    monitor = copy.deepcopy(find(objects, "ServiceMonitor", "shop-backend"))
    monitor["spec"]["selector"]["matchLabels"]["webstack.dev/scrape"] = "false"
    services = [o for o in objects if o["kind"] == "Service"]
    pod = _pod(objects, "shop-backend-abc-1", "abc")
    with pytest.raises(AssertionError, match="selects none of the pods"):
        scrape_configs(monitor, services, [pod], {"shop-backend-abc-1": "127.0.0.1:9001"})


def test_label_names_are_spelled_as_prometheus_spells_them() -> None:
    assert label_name("rollouts-pod-template-hash") == "rollouts_pod_template_hash"
    assert label_name("app.kubernetes.io/name") == "app_kubernetes_io_name"


def test_without_stand_ins_real_pods_are_scraped_at_their_own_address() -> None:
    """The lab's real node: the pods answer themselves, so each selected pod with an IP is a target at its
    IP and container port; a pod not yet given an IP is not (nothing would answer)."""
    objects = render(**CANARY)
    monitor = find(objects, "ServiceMonitor", "shop-backend")
    services = [o for o in objects if o["kind"] == "Service"]
    running = _pod(objects, "shop-backend-abc-1", "abc")
    pending = _pod(objects, "shop-backend-def-1", "def")
    pending["status"] = {}
    [config] = scrape_configs(monitor, services, [running, pending])
    assert [
        (c["targets"], c["labels"]["pod"], c["labels"]["instance"]) for c in config["static_configs"]
    ] == [(["10.0.0.7:8000"], "shop-backend-abc-1", "10.0.0.7:8000")]
    assert config["static_configs"][0]["labels"]["rollouts_pod_template_hash"] == "abc"
    with pytest.raises(AssertionError, match=r"selects none of the pods \['shop-backend-def-1'\]"):
        scrape_configs(monitor, services, [pending])

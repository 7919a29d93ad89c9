"""Placement rendered into every pod template: each component its own, the stack-wide default elsewhere,
a spread without labelSelector counting the component's own pods, and nothing at all when nothing is set."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from tests.support.placement_cases import SPOT_TOLERATION, ZONE, spread
from tests.support.rendered_stacks import make_stack, render

from kubelocal.target import REAL_NODE_LABEL
from localdemo.lab_stack import lab_sample
from webstack_operator.api.spec import parse_spec
from webstack_operator.builders.placement import scheduling
from webstack_operator.builders.stack_objects import desired_objects
from webstack_operator.objects import labels

# Every section that runs pods, and the component label its pods carry.
SECTIONS = {"backend": "backend", "frontend": "frontend", "database": "database", "cache": "cache"}
FULL: dict[str, Any] = {"backup": {"enabled": True}, "monitoring": {"enabled": True}}


def _template(obj: dict[str, Any]) -> dict[str, Any] | None:
    """The pod template of a workload (a CronJob's too), None for any other object."""
    spec = obj.get("spec", {})
    template = spec.get("template") or spec.get("jobTemplate", {}).get("spec", {}).get("template")
    return template if isinstance(template, dict) and "containers" in template.get("spec", {}) else None


def pod_specs(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`Kind/name` -> pod spec, for every object with a pod template."""
    templates = {f"{o['kind']}/{o['metadata']['name']}": _template(o) for o in objects}
    return {where: t["spec"] for where, t in templates.items() if t is not None}


def by_component(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The component label of each workload's pods -> its pod spec."""
    templates = [t for t in map(_template, objects) if t is not None]
    return {t["metadata"]["labels"][labels.COMPONENT]: t["spec"] for t in templates}


def _node(pool: str) -> dict[str, Any]:
    return {"nodeSelector": {"pool": pool}}


def test_the_stack_has_the_workloads_this_file_checks() -> None:
    assert set(by_component(render(**FULL))) == {"backend", "migrate", "frontend", "database", "cache"}


def test_each_component_gets_its_own_placement() -> None:
    sections = {section: {"placement": _node(section)} for section in SECTIONS}
    pods = by_component(render(**sections))
    for section, component in SECTIONS.items():
        assert pods[component]["nodeSelector"] == {"pool": section}, component
    # The migration runs the backend's image against the backend's database: where the backend runs.
    assert pods["migrate"]["nodeSelector"] == {"pool": "backend"}


def test_the_default_applies_to_every_workload_that_says_nothing() -> None:
    default = {**_node("general"), "tolerations": [SPOT_TOLERATION]}
    objects = render(placement=default, database={"placement": _node("db")}, **FULL)
    assert pod_specs(objects), "no workload rendered"
    for where, pod in pod_specs(objects).items():
        assert pod["tolerations"] == [SPOT_TOLERATION], where
        assert pod["nodeSelector"] == ({"pool": "db"} if "postgres" in where else {"pool": "general"}), where


def test_a_component_replaces_the_default_field_by_field() -> None:
    default = {**_node("general"), "tolerations": [SPOT_TOLERATION]}
    pods = by_component(render(placement=default, cache={"placement": {"tolerations": []}}))
    assert pods["cache"]["nodeSelector"] == {"pool": "general"}  # not set on the cache: the default's
    assert "tolerations" not in pods["cache"]  # `[]` clears the default's
    assert pods["backend"]["tolerations"] == [SPOT_TOLERATION]


def test_a_spread_without_label_selector_counts_the_components_own_pods() -> None:
    pods = by_component(render(placement={"topologySpreadConstraints": [spread()]}))
    assert "topologySpreadConstraints" not in pods["migrate"]  # one pod of a Job spreads nothing
    for component in ("backend", "frontend", "database", "cache"):
        [constraint] = pods[component]["topologySpreadConstraints"]
        assert constraint == {
            **spread(),
            "labelSelector": {"matchLabels": labels.selector_labels("shop", component)},
        }, component


def test_a_spread_with_a_label_selector_keeps_it_and_its_min_domains() -> None:
    selector = {"matchLabels": {"app.kubernetes.io/part-of": "webstack"}}
    own = spread(labelSelector=selector, minDomains=3)
    [constraint] = by_component(render(backend={"placement": {"topologySpreadConstraints": [own]}}))[
        "backend"
    ]["topologySpreadConstraints"]
    assert constraint == own


def test_a_set_spread_replaces_the_built_in_one_and_an_empty_one_removes_it() -> None:
    pods = by_component(
        render(
            backend={"placement": {"topologySpreadConstraints": [spread()]}},
            frontend={"placement": {"topologySpreadConstraints": []}},
        )
    )
    assert [c["topologyKey"] for c in pods["backend"]["topologySpreadConstraints"]] == [ZONE]
    assert "topologySpreadConstraints" not in pods["frontend"]


def test_nothing_set_renders_nothing_but_the_built_in_spread() -> None:
    pods = by_component(render(**FULL))
    for component, pod in pods.items():
        assert not {"nodeSelector", "tolerations", "affinity"} & pod.keys(), component
    for component in ("backend", "frontend"):
        # Written out: the spread every stack without placement has had, zones then nodes, a preference.
        selector = {
            "matchLabels": {
                "app.kubernetes.io/part-of": "webstack",
                "app.kubernetes.io/instance": "shop",
                "app.kubernetes.io/component": component,
            }
        }
        assert pods[component]["topologySpreadConstraints"] == [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": selector,
            },
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": selector,
            },
        ], component
    for component in ("migrate", "database", "cache"):
        assert "topologySpreadConstraints" not in pods[component], component


def test_empty_placements_render_byte_for_byte_as_none() -> None:
    empty: dict[str, Any] = {section: {"placement": {}} for section in SECTIONS}
    assert json.dumps(render(placement={}, **empty, **FULL)) == json.dumps(render(**FULL))


def test_scheduling_is_only_the_placement_fields() -> None:
    stack = make_stack(placement={**_node("general"), "tolerations": [SPOT_TOLERATION]})
    assert scheduling(stack, labels.CACHE, None) == {
        "nodeSelector": {"pool": "general"},
        "tolerations": [SPOT_TOLERATION],
    }


def test_the_labs_real_node_placement_is_a_stack_placement() -> None:
    """The lab puts its stack on the tainted real node with `spec.placement` alone: the document it applies
    (localdemo.lab_stack) renders the node's selector and toleration into every pod template."""
    doc = lab_sample("realnode-unit", reference=lambda repository: f"{repository}:unit")
    ctx = replace(make_stack(), spec=parse_spec(doc), name=doc["metadata"]["name"], namespace="realnode-unit")
    pods = pod_specs(desired_objects(ctx))
    assert {where.split("/")[0] for where in pods} == {"Rollout", "Deployment", "StatefulSet", "Job"}
    for where, pod in pods.items():
        assert pod["nodeSelector"] == {REAL_NODE_LABEL: "true"}, where
        assert pod["tolerations"] == [
            {"key": REAL_NODE_LABEL, "operator": "Equal", "value": "true", "effect": "NoSchedule"}
        ], where

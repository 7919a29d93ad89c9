"""cli/plan/view.py: the text people read, grouped and compact; colour only when asked."""

from __future__ import annotations

from webstack_operator.cli.plan.actions import FieldChange, ObjectPlan, PlanAction, PlanResult, StackPlan
from webstack_operator.cli.plan.view import plan_text, show_value
from webstack_operator.kube import managed_fields


def obj(
    action: PlanAction, kind: str, name: str, component: str, *changes: FieldChange, message: str = ""
) -> ObjectPlan:
    return ObjectPlan(action, "v1", kind, "team-a", name, component, changes, message)


def test_changes_grouped_by_component_unchanged_counted_not_listed() -> None:
    stack = StackPlan(
        "team-a",
        "shop",
        True,
        (
            obj(PlanAction.UNCHANGED, "ServiceAccount", "shop-backend", "backend"),
            obj(
                PlanAction.DELETE, "ServiceMonitor", "shop-backend", "monitoring", message="no longer desired"
            ),
            obj(
                PlanAction.UPDATE,
                "Deployment",
                "shop-backend",
                "backend",
                FieldChange("spec.template.spec.containers[name=backend].image", "api:1", "api:2"),
            ),
            obj(
                PlanAction.DRIFT,
                "Deployment",
                "shop-frontend",
                "frontend",
                FieldChange("spec.replicas", 4, 2, "kubectl (/scale)"),
            ),
        ),
    )
    assert plan_text(PlanResult((stack,))) == (
        "WebStack team-a/shop\n"
        "  backend\n"
        "    ~ update    Deployment shop-backend\n"
        '          spec.template.spec.containers[name=backend].image: "api:1" -> "api:2"\n'
        "  frontend\n"
        "    ! drift     Deployment shop-frontend\n"
        "          spec.replicas: 4 -> 2  (changed by kubectl (/scale))\n"
        "  monitoring\n"
        "    - delete    ServiceMonitor shop-backend  (no longer desired)\n"
        "  Plan: 0 to create, 1 to update, 1 to delete, 1 drifted, 0 in conflict, 1 unchanged.\n"
    )


def test_no_changes_and_notes() -> None:
    quiet = StackPlan("a", "s", False, (obj(PlanAction.UNCHANGED, "Service", "s", "cache"),))
    assert (
        plan_text(PlanResult((quiet,))) == "WebStack a/s (new)\n  No changes: 1 objects match the cluster.\n"
    )
    paused = StackPlan("a", "s", True, notes=("spec.paused is true",))
    assert plan_text(PlanResult((paused,))) == "WebStack a/s\n  note: spec.paused is true\n  No changes.\n"


def test_colour_only_when_asked() -> None:
    stack = StackPlan("a", "s", True, (obj(PlanAction.CREATE, "Service", "s", "cache"),))
    assert "\033[" not in plan_text(PlanResult((stack,)), color=False)
    assert "\033[32m+ create   \033[0m" in plan_text(PlanResult((stack,)), color=True)


def test_long_values_are_summarised_with_a_few_diff_lines() -> None:
    before = "\n".join(f"line {i}" for i in range(30))
    after = before.replace("line 3\n", "line three\n")
    stack = StackPlan(
        "a",
        "s",
        True,
        (
            obj(
                PlanAction.UPDATE, "ConfigMap", "c", "frontend", FieldChange("data.nginx.conf", before, after)
            ),
        ),
    )
    text = plan_text(PlanResult((stack,)))
    assert "data.nginx.conf: (30 lines) -> (30 lines)" in text
    assert "    -line 3\n" in text and "    +line three\n" in text
    assert show_value(managed_fields.MISSING) == "(absent)"
    assert show_value({"a": 1}) == '{"a":1}'
    assert show_value(list(range(40))).startswith("(")

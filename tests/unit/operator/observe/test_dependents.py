"""dependents.py: only pods and claims with a problem are kept, per stack and component; failed creates per
StatefulSet, the newest; a change is reported only when what status would say changes."""

from __future__ import annotations

from typing import Any

from webstack_operator.objects import labels
from webstack_operator.observe.dependents import DependentsCache, failed_create_of

STACK = ("team-a", "shop")


def _pod(name: str, component: str = labels.BACKEND, waiting: str | None = None) -> dict[str, Any]:
    statuses = [{"name": "c", "state": {"waiting": {"reason": waiting}}}] if waiting else []
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "labels": {**labels.standard_labels("shop", component)},
        },
        "status": {"phase": "Pending", "containerStatuses": statuses},
    }


def _claim(name: str, phase: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": "team-a",
            "labels": labels.standard_labels("shop", labels.DATABASE),
        },
        "spec": {"storageClassName": "gp3"},
        "status": {"phase": phase},
    }


def _event(name: str, message: str, at: str, uid: str = "sts-1") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"name": name, "namespace": "team-a"},
        "involvedObject": {"kind": "StatefulSet", "namespace": "team-a", "name": "shop-postgres", "uid": uid},
        "reason": "FailedCreate",
        "message": message,
        "lastTimestamp": at,
    }


def test_only_pods_with_a_problem_are_kept_and_a_change_names_the_stack() -> None:
    cache = DependentsCache()
    assert cache.saw("ADDED", _pod("b-1")) is None  # healthy enough: nothing kept, nothing to say
    assert cache.sizes() == (0, 0)
    assert cache.saw("MODIFIED", _pod("b-1", waiting="ImagePullBackOff")) == STACK
    assert cache.saw("MODIFIED", _pod("b-1", waiting="ImagePullBackOff")) is None  # the same problem
    assert [p.reason for p in cache.problems(STACK)["backend"]] == ["ImagePullBackOff"]
    assert cache.saw("MODIFIED", _pod("b-1")) == STACK  # recovered: dropped
    assert cache.problems(STACK) == {} and cache.sizes() == (0, 0)


def test_deleted_pods_go_and_pods_of_no_component_are_ignored() -> None:
    cache = DependentsCache()
    cache.saw("ADDED", _pod("b-1", waiting="CrashLoopBackOff"))
    assert cache.saw("ADDED", _pod("m-1", component="migrate", waiting="CrashLoopBackOff")) is None
    assert cache.saw("DELETED", _pod("b-1", waiting="CrashLoopBackOff")) == STACK
    assert cache.sizes() == (0, 0)


def test_claims_come_before_pods_and_a_resync_removes_what_is_gone() -> None:
    cache = DependentsCache()
    cache.saw("ADDED", _pod("a-pod", component=labels.DATABASE, waiting="CrashLoopBackOff"))
    cache.saw("ADDED", _claim("data-shop-postgres-0", "Pending"))
    assert [p.reason for p in cache.problems(STACK)["database"]] == ["ClaimPending", "CrashLoopBackOff"]
    touched = cache.resync("v1", "PersistentVolumeClaim", "team-a", [_claim("data-shop-postgres-0", "Bound")])
    assert touched == {STACK}
    assert [p.reason for p in cache.problems(STACK)["database"]] == ["CrashLoopBackOff"]
    assert cache.resync("v1", "Pod", None, []) == {STACK} and cache.problems(STACK) == {}


def test_failed_creates_keep_the_newest_per_statefulset_until_their_event_expires() -> None:
    cache = DependentsCache()
    ref = ("team-a", "shop-postgres")
    assert cache.saw_event("ADDED", _event("e1", "first", "2026-01-01T00:00:01Z")) == ref
    assert cache.saw_event("ADDED", _event("e0", "older", "2026-01-01T00:00:00Z")) is None
    assert cache.saw_event("MODIFIED", _event("e2", "second", "2026-01-01T00:00:02Z")) == ref
    found = cache.failed_create(*ref)
    assert found is not None and (found.message, found.uid) == ("second", "sts-1")
    assert (
        cache.saw_event("DELETED", _event("e1", "first", "2026-01-01T00:00:01Z")) is None
    )  # not the kept one
    assert cache.saw_event("DELETED", _event("e2", "second", "2026-01-01T00:00:02Z")) == ref
    assert cache.failed_create(*ref) is None


def test_a_resync_of_events_reports_what_changed() -> None:
    cache = DependentsCache()
    cache.saw_event("ADDED", _event("e1", "first", "2026-01-01T00:00:01Z"))
    assert cache.resync_events("team-a", [_event("e1", "first", "2026-01-01T00:00:01Z")]) == set()
    assert cache.resync_events(None, []) == {("team-a", "shop-postgres")}


def test_only_statefulset_failed_creates_are_read() -> None:
    other = {**_event("e", "m", "t"), "involvedObject": {"kind": "ReplicaSet", "name": "x"}}
    assert failed_create_of(other) is None
    assert failed_create_of({**_event("e", "m", "t"), "reason": "SuccessfulCreate"}) is None


def test_another_namespaces_pods_and_events_never_join_a_stack() -> None:
    """Labels naming `team-a` on a pod in `zzz`, or an Event in `zzz` about `team-a`'s StatefulSet."""
    cache = DependentsCache()
    pod = _pod("b-1", waiting="ImagePullBackOff")
    pod["metadata"].update(namespace="zzz")
    pod["metadata"]["labels"][labels.STACK_NAMESPACE] = "team-a"
    assert cache.saw("ADDED", pod) is None
    assert cache.problems(STACK) == {}
    forged = _event("e-1", "quota exceeded", "2026-12-01T00:00:00Z")
    forged["metadata"]["namespace"] = "zzz"
    assert failed_create_of(forged) is None
    assert cache.saw_event("ADDED", forged) is None
    assert cache.failed_create("team-a", "shop-postgres") is None

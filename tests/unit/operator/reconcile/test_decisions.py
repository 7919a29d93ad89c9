"""The pure decisions of a reconcile: what to write, what to prune, what a write was, what to say."""

from __future__ import annotations

from typing import Any

from webstack_operator.api.problem import Problem
from webstack_operator.objects import labels
from webstack_operator.objects.ownership import Ownership
from webstack_operator.objects.stamps import FIELD_MANAGER, Applied, key_of, our_fields_hash, stamped
from webstack_operator.observe.cache import ChildCache, Seen
from webstack_operator.reconcile.decisions import (
    FAILURES_BEFORE_REPORTING,
    Event,
    WriteOutcome,
    announce_invalid,
    classify,
    failure_to_report,
    invalid_spec_status,
    kept_as_created,
    prerequisite_warnings,
    prunable,
    refused,
    skip_warnings,
    to_prune,
    to_write,
    write_event,
)

STACK = ("team", "shop")
SERVED = {("v1", "ConfigMap"), ("v1", "Secret"), ("v1", "Service"), ("velero.io/v1", "Schedule")}


def _obj(
    kind: str, name: str, api_version: str = "v1", ns: str = "team", owner: str | None = None, **extra: Any
) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "labels": {labels.INSTANCE: "shop", labels.MANAGED_BY: labels.MANAGED_BY_VALUE},
    }
    if owner:
        meta["ownerReferences"] = [{"uid": owner, "controller": True}]
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


def _live(obj: dict[str, Any], *, rv: str = "5", uid: str = "u1", fields: Any = None) -> dict[str, Any]:
    """What the apiserver would hold after our apply of `obj`."""
    body, _ = stamped(obj)
    body["metadata"].update(resourceVersion=rv, uid=uid)
    body["metadata"]["managedFields"] = [
        {"manager": FIELD_MANAGER, "operation": "Apply", "fieldsV1": fields or {"f:data": {}}}
    ]
    return body


def _written(cache: ChildCache, obj: dict[str, Any], **live: Any) -> Applied:
    result = _live(obj, **live)
    record = Applied(stamped(obj)[1], our_fields_hash(result), result["metadata"]["resourceVersion"], "u1")
    cache.wrote(STACK, result, record)
    return record


def test_to_write_skips_what_is_unchanged_and_served_and_created_once() -> None:
    cache = ChildCache()
    cache.track(STACK, "stack-uid")
    same = _obj("ConfigMap", "same", data={"a": "1"})
    changed = _obj("ConfigMap", "changed", data={"a": "1"})
    secret = _obj("Secret", "creds", stringData={"password": "p"})
    _written(cache, same)
    _written(cache, changed)
    _written(cache, secret)
    changed_now = _obj("ConfigMap", "changed", data={"a": "2"})
    missing = _obj("Service", "new")
    rollout = _obj("Rollout", "backend", api_version="argoproj.io/v1alpha1")  # CRD gone since discovery
    pending = to_write([same, changed_now, secret, missing, rollout], cache, STACK, SERVED)
    assert [o["metadata"]["name"] for o in pending] == ["changed", "new"]


def test_to_write_notices_fields_taken_by_another_manager() -> None:
    cache = ChildCache()
    obj = _obj("ConfigMap", "cm", data={"a": "1"})
    _written(cache, obj)
    assert to_write([obj], cache, STACK, SERVED) == []
    cache.upsert(_live(obj, rv="6", fields={"f:data": {}, "f:metadata": {}}))  # kubectl took a field
    assert to_write([obj], cache, STACK, SERVED) == [obj]


def test_to_write_without_a_record_of_our_write_writes_once() -> None:
    cache = ChildCache()  # a restarted operator: the object exists, but we have not written it yet
    obj = _obj("ConfigMap", "cm")
    cache.upsert(_live(obj))
    assert to_write([obj], cache, STACK, SERVED) == [obj]


def test_prune_touches_only_what_this_stack_controls() -> None:
    ours = _obj("Service", "a", owner="stack-uid")
    assert prunable(ours, "stack-uid", "team")
    sealed = _obj("ConfigMap", "x", owner="sealedsecret-uid")
    assert not prunable(sealed, "stack-uid", "team")
    assert not prunable(_obj("Service", "orphan"), "stack-uid", "team")  # no owner, same namespace
    schedule = _obj("Schedule", "team-shop", api_version="velero.io/v1", ns="velero")
    schedule["metadata"]["labels"].update({labels.STACK_NAMESPACE: "team", labels.STACK_UID: "stack-uid"})
    assert prunable(schedule, "stack-uid", "team")
    backup = _obj("Backup", "team-shop-20261201", api_version="velero.io/v1", ns="velero")
    assert not prunable(backup, "stack-uid", "team")  # Velero's, with the Schedule's labels: the data
    secret = _obj("Secret", "creds", owner="stack-uid")
    assert not prunable(secret, "stack-uid", "team")  # generated credentials are never pruned
    unknown = _obj("Pod", "p", owner="stack-uid")
    assert not prunable(unknown, "stack-uid", "team")  # not a kind the operator renders


def test_a_job_of_ours_is_never_patched_but_still_pruned() -> None:
    """A Job's pod template is immutable: a patch of one (a new placement) would be refused."""
    job = _obj("Job", "shop-migrate-1", "batch/v1", owner="stack-uid")
    assert kept_as_created(job, Ownership.OURS)
    assert not kept_as_created(job, None)  # missing: created
    assert not kept_as_created(job, Ownership.LEFTOVER)  # written once, to take it over
    assert not kept_as_created(_obj("Deployment", "shop-backend", "apps/v1"), Ownership.OURS)
    assert prunable(job, "stack-uid", "team")
    assert to_prune([job], [], "stack-uid", "team") == [job]


def test_to_prune_keeps_what_is_desired() -> None:
    kept, gone = _obj("Service", "kept", owner="stack-uid"), _obj("Service", "gone", owner="stack-uid")
    assert to_prune([kept, gone], [_obj("Service", "kept")], "stack-uid", "team") == [gone]


def test_classify_names_what_one_apply_did() -> None:
    obj = _obj("ConfigMap", "cm")
    h = stamped(obj)[1]
    before = Applied(h, "f", "5", "u1")
    seen = Seen(_live(obj), "f")
    assert classify(Applied(h, "f", "5", "u1"), before, seen, False) is WriteOutcome.UNCHANGED
    assert classify(Applied(h, "f", "6", "u1"), before, seen, False) is WriteOutcome.DRIFT_CORRECTED
    assert classify(Applied("other", "f", "6", "u1"), before, seen, False) is WriteOutcome.UPDATED
    assert classify(Applied(h, "f", "1", "u2"), before, seen, False) is WriteOutcome.CREATED
    assert classify(Applied(h, "f", "1", "u2"), None, None, False) is WriteOutcome.CREATED
    assert classify(Applied(h, "f", "7", "u3"), before, None, True) is WriteOutcome.RECREATED
    # after a restart: no record, but the object's own stamp says which spec produced it
    assert classify(Applied(h, "f", "6", "u1"), None, seen, False) is WriteOutcome.DRIFT_CORRECTED


def test_write_events() -> None:
    assert write_event(WriteOutcome.UNCHANGED, "Service", "s") is None
    assert write_event(WriteOutcome.CREATED, "Service", "s") == Event("Normal", "Created", "Service s")
    recreated = write_event(WriteOutcome.RECREATED, "Service", "s")
    assert recreated is not None
    assert (recreated.type, recreated.reason) == ("Warning", "DriftCorrected")
    assert "deleted" in recreated.message


def test_a_failure_is_reported_once_when_it_persists() -> None:
    reports = [failure_to_report(n, 403, "forbidden") for n in range(1, 7)]
    assert [r is not None for r in reports] == [n == FAILURES_BEFORE_REPORTING for n in range(1, 7)]
    report = reports[FAILURES_BEFORE_REPORTING - 1]
    assert report is not None
    assert report.reason == "ApiError"
    assert "HTTP 403" in report.message


def test_invalid_spec_status_keeps_the_rest_and_moves_transition_times_only_on_change() -> None:
    previous = {
        "phase": "Ready",
        "observedGeneration": 3,
        "components": {"backend": {"ready": 2, "desired": 2}},
        "conditions": [
            {"type": "Ready", "status": "True", "lastTransitionTime": "t0"},
            {"type": "BackendAvailable", "status": "True", "lastTransitionTime": "t0"},
        ],
    }
    status = invalid_spec_status(previous, "spec.backend.image: required", 4, "t1")
    assert status["phase"] == "Failed"
    assert status["observedGeneration"] == 4
    assert status["components"] == previous["components"]
    by_type = {c["type"]: c for c in status["conditions"]}
    assert by_type["Ready"]["reason"] == by_type["Reconciled"]["reason"] == "InvalidSpec"
    assert by_type["Ready"]["lastTransitionTime"] == "t1"
    assert by_type["BackendAvailable"]["lastTransitionTime"] == "t0"
    again = invalid_spec_status(status, "spec.backend.image: required", 4, "t2")
    assert {c["type"]: c["lastTransitionTime"] for c in again["conditions"]}["Ready"] == "t1"
    assert announce_invalid(previous, 4)
    assert not announce_invalid(status, 4)
    assert announce_invalid(status, 5)


def test_skip_warnings_only_when_an_optional_api_newly_goes_missing() -> None:
    missing = {
        "type": "BackupConfigured",
        "status": "False",
        "reason": "VeleroNotInstalled",
        "message": "no Velero",
    }
    assert skip_warnings({}, {"conditions": [missing]}) == [
        Event("Warning", "VeleroNotInstalled", "no Velero")
    ]
    assert skip_warnings({"conditions": [missing]}, {"conditions": [missing]}) == []
    disabled = {**missing, "reason": "Disabled"}
    assert skip_warnings({}, {"conditions": [disabled]}) == []


def test_key_of_is_the_cache_key() -> None:
    assert key_of(_obj("Service", "s")) == ("v1", "Service", "team", "s")


def test_a_missing_prerequisite_is_warned_about_once() -> None:
    missing = [Problem("PriorityClassNotFound", "names the PriorityClass x, which is not there")]
    first = prerequisite_warnings({}, missing)
    assert first == [Event("Warning", "PriorityClassNotFound", missing[0].message)]
    said = {"conditions": [{"type": "Prerequisites", "status": "False", "message": missing[0].message}]}
    assert prerequisite_warnings(said, missing) == []
    cleared = {"conditions": [{"type": "Prerequisites", "status": "True", "message": "found ..."}]}
    assert prerequisite_warnings(cleared, missing) == first  # gone again after it was found: said again


def test_a_refused_generation_is_read_from_status_alone() -> None:
    """What a restarted operator knows of a refusal: status, for this generation only."""
    status = invalid_spec_status({}, "spec: the apiserver refused it", 4, "2026-12-01T00:00:00Z")
    assert refused(status, 4)
    assert not refused(status, 5)  # the spec changed since: checked afresh
    assert not refused({**status, "phase": "Ready"}, 4)
    degraded = {**status, "conditions": [{"type": "Ready", "status": "False", "reason": "ApiError"}]}
    assert not refused(degraded, 4)
    assert not refused({}, 0)


def test_labels_never_make_another_namespaces_object_prunable() -> None:
    """The issue's look-alikes in `zzz`: labelled for `team/shop`, no owner, or an owner reference that
    cannot point across namespaces; a Schedule elsewhere without this WebStack's UID label."""
    lookalike = _obj("Service", "shop-backend", ns="zzz")
    lookalike["metadata"]["labels"][labels.STACK_NAMESPACE] = "team"
    assert not prunable(lookalike, "stack-uid", "team")
    assert not prunable(_obj("ConfigMap", "shop-extra", ns="zzz", owner="stack-uid"), "stack-uid", "team")
    schedule = _obj("Schedule", "team-shop", api_version="velero.io/v1", ns="velero")
    schedule["metadata"]["labels"][labels.STACK_NAMESPACE] = "team"
    assert not prunable(schedule, "stack-uid", "team")
    assert to_prune([lookalike, schedule], [], "stack-uid", "team") == []

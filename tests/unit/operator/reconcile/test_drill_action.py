"""The drill runner's pure helpers: the request, a finished Job, the verdict read from the newest pod."""

from __future__ import annotations

from webstack_operator.cli.drill import record_text
from webstack_operator.reconcile.drill_action import (
    DRILL_ANNOTATION,
    drill_request,
    finished,
    termination_message,
)


def _pod(created: str, message: str | None) -> dict[str, object]:
    state = {"terminated": {"exitCode": 1, **({"message": message} if message else {})}}
    return {"metadata": {"creationTimestamp": created}, "status": {"containerStatuses": [{"state": state}]}}


def test_a_request_is_the_annotations_value() -> None:
    assert drill_request({"metadata": {"annotations": {DRILL_ANNOTATION: "2026-12-06T10:00:00Z"}}}) == (
        "2026-12-06T10:00:00Z"
    )
    assert drill_request({"metadata": {"annotations": {DRILL_ANNOTATION: ""}}}) is None
    assert drill_request({"metadata": {}}) is None


def test_a_job_is_finished_once_complete_or_failed() -> None:
    def job(ctype: str, status: str) -> dict[str, object]:
        return {"status": {"conditions": [{"type": ctype, "status": status}]}}

    assert finished(job("Complete", "True")) and finished(job("Failed", "True"))
    assert not finished(job("Failed", "False")) and not finished({"status": {}})


def test_the_verdict_is_the_newest_pods_message() -> None:
    pods = [_pod("2026-12-06T10:00:02Z", '{"result": "Failed"}'), _pod("2026-12-06T10:00:01Z", "older")]
    assert termination_message(pods) == '{"result": "Failed"}'
    assert termination_message([_pod("2026-12-06T10:00:02Z", None)]) is None


def test_the_record_reads_for_a_person() -> None:
    tables = [{"name": "users", "rows": 3, "digest": "ab"}]
    record = {"id": "r", "result": "Succeeded", "reason": "Restored", "dump": "d.pgdump", "dumpTime": "t",
              "rpoSeconds": 61.0, "rtoSeconds": 12.0, "tables": tables}  # fmt: skip
    text = record_text(record)
    assert text.splitlines()[0] == "drill r: Succeeded (Restored)"
    assert "RPO:    61s" in text and "RTO:    12s" in text and "table users: 3 rows, md5 ab" in text

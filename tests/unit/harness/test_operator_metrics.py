"""localservices.operator.parse_metric: one sample sum out of the text a real prometheus_client registry
exposes, as the operator's /metrics serves it."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest

from localservices import parse_metric


def exposition() -> str:
    registry = CollectorRegistry()
    requests = Counter("webstack_api_requests", "requests", ["method", "code"], registry=registry)
    requests.labels("PATCH", "200").inc(3)
    requests.labels("PATCH", "409").inc()
    requests.labels("POST", "201").inc(2)
    Gauge("webstack_leader", "leads", registry=registry).set(1)
    Gauge("webstack_leader_changes", "a longer name with the same start", registry=registry).set(7)
    return generate_latest(registry).decode()


def test_samples_are_summed_over_the_labels_not_asked_for() -> None:
    text = exposition()
    assert parse_metric(text, "webstack_api_requests_total") == 6
    assert parse_metric(text, "webstack_api_requests_total", method="PATCH") == 4
    assert parse_metric(text, "webstack_api_requests_total", method="PATCH", code="409") == 1
    assert parse_metric(text, "webstack_api_requests_total", method="DELETE") == 0


def test_a_name_matches_whole_and_comments_or_absent_metrics_count_nothing() -> None:
    text = exposition()
    assert parse_metric(text, "webstack_leader") == 1  # not webstack_leader_changes
    assert parse_metric(text, "webstack_api_requests") == 0  # the family, not a sample
    assert parse_metric("", "webstack_leader") == 0
    assert (
        parse_metric(
            '# HELP webstack_leader 5\nwebstack_leader{role="x"} 2 1700000000000\n', "webstack_leader"
        )
        == 2
    )

"""The rendered AnalysisTemplate's queries, evaluated by a real promtool (from the binaries cache) over the
series a stable, a healthy, a failing and an idle canary leave: what each measurement's result would be,
so the template's conditions decide as docs/canary.md says (Failed below the success rate, Inconclusive
only without traffic). Found on real pods: a release answering nothing but 5xx has no series of
successes, and the ratio over it was empty (Inconclusive: the rollout paused) instead of 0 (aborted)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from tests.support.promtool import promtool
from tests.support.rendered_stacks import ANALYSED_CANARY, find, render

from webstack_contract import metric_names as m

CANARY = ANALYSED_CANARY
# Requests per 5 s sample, by pod-template hash and status.
TRAFFIC = {"healthy": {"200": 10, "201": 5}, "failing": {"500": 15}, "mixed": {"200": 9, "503": 1}}


def _series(pod_hash: str, status: str, per_sample: int) -> dict[str, str]:
    labels = {
        "namespace": "team-a",
        "job": "shop-backend-metrics",
        "rollouts_pod_template_hash": pod_hash,
        m.LABEL_ROUTE: "/api/users",
        m.LABEL_METHOD: "GET",
        m.LABEL_STATUS: status,
    }
    text = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return {"series": f"{m.HTTP_REQUESTS_TOTAL}{{{text}}}", "values": f"0+{per_sample}x40"}


def _success_rate_query() -> str:
    template = find(render(**CANARY), "AnalysisTemplate", "shop-backend")
    [metric] = [x for x in template["spec"]["metrics"] if x["name"] == "success-rate"]
    return str(metric["provider"]["prometheus"]["query"])


def test_the_success_rate_of_a_canary_answering_only_5xx_is_zero_and_of_an_idle_one_nothing(
    tmp_path: Path,
) -> None:
    query = _success_rate_query()
    expected: dict[str, list[dict[str, Any]]] = {
        "healthy": [{"labels": "{}", "value": 1}],
        "failing": [{"labels": "{}", "value": 0}],  # was nothing: Inconclusive, the rollout only paused
        "mixed": [{"labels": "{}", "value": 0.9}],
        "idle": [],  # no request at all: Inconclusive, as documented
    }
    tests = {
        "rule_files": [],
        "evaluation_interval": "5s",
        "tests": [
            {
                "interval": "5s",
                "input_series": [
                    _series(pod_hash, status, n)
                    for pod_hash, statuses in TRAFFIC.items()
                    for status, n in statuses.items()
                ],
                "promql_expr_test": [
                    {
                        "expr": query.replace("{{args.canary-hash}}", pod_hash),
                        "eval_time": "2m",
                        "exp_samples": samples,
                    }
                    for pod_hash, samples in expected.items()
                ],
            }
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    tested = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert tested.returncode == 0, tested.stdout + tested.stderr

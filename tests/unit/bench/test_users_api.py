"""The pure parts of the users-API benchmark: parsing wrk and redis-benchmark, the goals, the docs table."""

from __future__ import annotations

import pytest
from bench.users_api import (
    BEGIN,
    END,
    SCENARIOS,
    Comparison,
    LoadReport,
    Result,
    best,
    evaluate,
    first_difference,
    parse_redis_benchmark,
    parse_wrk,
    render_section,
    replace_section,
)

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:4000/api/users?limit=50
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     8.12ms    9.01ms 120.33ms   91.20%
    Req/Sec     2.01k   310.55     2.60k    70.00%
  Latency Distribution
     50%  750.00us
     75%    9.10ms
     90%   16.02ms
     99%    1.20s
  12034 requests in 3.00s, 82.31MB read
Requests/sec:   4011.33
Transfer/sec:     27.44MB
"""

CACHED_LIST, CACHED_USER, UNCACHED_LIST = SCENARIOS
HOST = {"cpu": "Test CPU", "cores": "2", "os": "Linux 6", "python": "3.11.7", "date": "2026-12-02 05:00 UTC"}
IDLE = LoadReport(other_cpu_seconds=0.0, by_name={}, load_start=0.5, load_end=0.6)


def result(rps: float, p99: float = 10.0, p50: float = 2.0) -> Result:
    return Result("x", rps, p50, p99)


def test_parse_wrk_reads_rate_and_latencies_in_every_unit() -> None:
    parsed = parse_wrk(WRK_OUTPUT, "cached list")

    assert parsed == Result("cached list", 4011.33, 0.75, 1200.0)


@pytest.mark.parametrize("error", ["Non-2xx or 3xx responses: 12", "Socket errors: connect 0, read 3"])
def test_parse_wrk_refuses_a_run_with_errors(error: str) -> None:
    with pytest.raises(RuntimeError, match="wrk saw errors"):
        parse_wrk(WRK_OUTPUT + error + "\n", "cached list")


def test_parse_wrk_refuses_output_it_cannot_read() -> None:
    with pytest.raises(RuntimeError, match="cannot parse"):
        parse_wrk("unable to connect to 127.0.0.1:4000 Connection refused\n", "cached list")


def test_parse_redis_benchmark_reads_the_get_line_after_progress_updates() -> None:
    output = (
        "SET: 61349.69 requests per second, p50=0.271 msec\n"
        "GET: rps=48120.0 (overall: 47000.0) avg_msec=0.300 (overall: 0.310)\r"
        "GET: 55157.12 requests per second, p50=0.263 msec\n\n"
    )

    parsed = parse_redis_benchmark(output, "redis")

    assert parsed == Result("redis", 55157.12, 0.263, None)


def test_parse_redis_benchmark_refuses_output_without_a_get_line() -> None:
    with pytest.raises(RuntimeError, match="cannot parse"):
        parse_redis_benchmark("SET: 61349.69 requests per second, p50=0.271 msec\n", "redis")


def test_best_is_the_round_with_most_requests_per_second() -> None:
    assert best([result(900, p99=5), result(1200, p99=40), result(1000, p99=8)]) == result(1200, p99=40)


def test_a_cached_goal_is_met_with_enough_throughput_and_a_p99_not_above_the_peers() -> None:
    comparison = Comparison(
        CACHED_LIST, (result(1500, p99=10), result(3000, p99=12)), (result(2000, p99=12),)
    )

    assert comparison.ratio == 1.5
    assert evaluate(comparison) == (True, "yes")


def test_a_cached_goal_says_by_how_much_each_part_is_missed() -> None:
    comparison = Comparison(CACHED_USER, (result(1000, p99=50),), (result(4000, p99=20),))

    met, note = evaluate(comparison)

    assert not met
    assert note == "**no**: 0.25x, ours' req/s must grow 6.00x; p99 50.0 ms > 20.0 ms"


def test_a_cached_goal_is_missed_by_p99_alone() -> None:
    comparison = Comparison(CACHED_LIST, (result(4000, p99=21),), (result(2000, p99=20),))

    assert evaluate(comparison) == (False, "**no**: p99 21.0 ms > 20.0 ms")


def test_the_cache_disabled_goal_is_throughput_only() -> None:
    assert evaluate(Comparison(UNCACHED_LIST, (result(1000, p99=90),), (result(1000, p99=50),)))[0]
    assert not evaluate(Comparison(UNCACHED_LIST, (result(999),), (result(1000),)))[0]


def test_first_difference_points_at_the_first_byte_that_differs() -> None:
    assert first_difference(b'{"a":1}', b'{"a":1}') == "equal"
    assert "first difference at byte 5" in first_difference(b'{"a":1}', b'{"a":2}')
    assert "lengths 3 and 5, first difference at byte 3" in first_difference(b"abc", b"abcde")


def comparisons() -> list[Comparison]:
    return [
        Comparison(
            CACHED_LIST, (result(3000, 8.0), result(9000, 12.5)), (result(5000, 15.0), result(6000, 14))
        ),
        Comparison(
            CACHED_USER, (result(2000, 30.0), result(2500, 31.0)), (result(7000, 18.0), result(6500, 19))
        ),
        Comparison(
            UNCACHED_LIST, (result(900, 80.0), result(880, 85.0)), (result(1500, 50.0), result(1400, 55))
        ),
    ]


REFERENCES = [
    Result("redis-benchmark GET, 7108-byte value", 55157.0, 0.26, None),
    Result("bare uvicorn, the cached list's 7108 bytes", 18000.0, 1.3, 6.5),
]


def test_render_section_writes_one_side_by_side_table_with_ratios_and_goals() -> None:
    section = render_section(comparisons(), REFERENCES, HOST, 120.0, IDLE, duration=15)

    assert section.startswith(BEGIN)
    assert section.endswith(END)
    assert (
        "| cached list (`/api/users?limit=50`) | 9,000 | 2.00 | 12.50 | 6,000 | 2.00 | 14.00 | **1.50x** |"
        " ≥ 1.5x and p99 ≤ peer's | yes |"
    ) in section
    assert "| cached user (`/api/users/500`) | 2,500 | 2.00 | 31.00 | 7,000 |" in section
    assert "**0.36x** | ≥ 1.5x and p99 ≤ peer's | **no**: 0.36x" in section
    assert "| ≥ 1.0x | **no**: 0.60x, ours' req/s must grow 1.67x |" in section
    assert "- cached list: ours 3,000 / 9,000, peer 5,000 / 6,000" in section
    assert "| redis-benchmark GET, 7108-byte value | 55,157 | 0.26 | n/a |" in section
    assert "reaches **50%** of the bare uvicorn endpoint's requests/s" in section
    assert "over\n2 rounds" in section
    assert "Test CPU, 2 cores" in section
    assert "otherwise idle" in section
    assert "Smoke run" not in section


def test_render_section_marks_a_short_run_as_a_smoke_run_and_a_busy_machine_as_busy() -> None:
    busy = LoadReport(
        other_cpu_seconds=100.0, by_name={"pytest": 80.0, "etcd": 20.0}, load_start=1, load_end=3
    )

    section = render_section(comparisons(), REFERENCES, HOST, 120.0, busy, duration=3)

    assert "**Smoke run** (3 s per run)" in section
    assert "**The machine was busy**: other processes used 100 CPU-seconds of the 240 available" in section
    assert "top: pytest 80 s, etcd 20 s" in section


def test_replace_section_rewrites_only_the_users_api_section() -> None:
    others = "<!-- operator:begin -->\nop\n<!-- operator:end -->\n"
    text = f"# Benchmarks\n\n{BEGIN}\nold\n{END}\n\n{others}"

    replaced = replace_section(text, f"{BEGIN}\nnew\n{END}")

    assert replaced == f"# Benchmarks\n\n{BEGIN}\nnew\n{END}\n\n{others}"


def test_replace_section_appends_when_there_is_none_yet() -> None:
    assert (
        replace_section("# Benchmarks\n\n", f"{BEGIN}\nnew\n{END}")
        == f"# Benchmarks\n\n{BEGIN}\nnew\n{END}\n"
    )

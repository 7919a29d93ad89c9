"""The longest gap between runs of a cron schedule: what the backup-missing alert doubles."""

from __future__ import annotations

import pytest

from webstack_operator.api.cron import CronError, period_seconds

HOUR, DAY = 3600, 86400


@pytest.mark.parametrize(
    ("schedule", "period"),
    [
        ("0 3 * * *", DAY),
        ("*/15 * * * *", 15 * 60),
        ("0 */6 * * *", 6 * HOUR),
        ("0 1,13 * * *", 12 * HOUR),
        ("0 22 * * *", DAY),
        ("30 2 * * 0", 7 * DAY),
        ("0 3 * * MON-FRI", 3 * DAY),  # Friday to Monday
        ("0 3 * * 1-5", 3 * DAY),
        ("0 3 * * 7", 7 * DAY),  # 7 is Sunday too
        ("0 0 1 * *", 31 * DAY),  # the longest month
        ("0 0 1 jan,jul *", 184 * DAY),
        ("0 3 1 * 1", 7 * DAY),  # day-of-month OR day-of-week when both are set
        ("0 3 ? * *", DAY),
        ("@hourly", HOUR),
        ("@daily", DAY),
        ("@weekly", 7 * DAY),
        ("@every 90m", 90 * 60),
        ("@every 45s", 45),
    ],
)
def test_period(schedule: str, period: int) -> None:
    assert period_seconds(schedule) == period


def test_schedules_that_never_run_or_are_out_of_range() -> None:
    with pytest.raises(CronError, match="never runs"):
        period_seconds("0 0 31 2 *")
    with pytest.raises(CronError, match="outside"):
        period_seconds("0 25 * * *")

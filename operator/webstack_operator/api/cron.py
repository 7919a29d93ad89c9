"""The longest time between two runs of a backup schedule, from its cron expression (pure).

The spec uses it to reject a schedule that never runs; the backup alerts use the period.

The "backup missing" alert fires when no backup succeeded within twice this period, so a weekly schedule
is not flagged daily and an hourly one is not given a day of grace. The syntax is what `spec.CRON_PATTERN`
admits and Velero's robfig/cron reads: five fields (minute hour day-of-month month day-of-week) with `*`,
`?`, lists, ranges, steps and month/day names, or an @-descriptor. When both day fields are restricted a
day matches if either does (classic cron). The schedule is UTC, so every day has 24 hours.
"""

from datetime import date, timedelta
from functools import cache
from itertools import pairwise

_DESCRIPTORS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
_MONTHS = {
    n: i
    for i, n in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_WEEKDAYS = {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
# Long enough to contain every gap a five-field schedule can have (Feb 29 recurs within 8 years).
_SPAN_DAYS = 8 * 366
_EPOCH = date(2024, 1, 1)


class CronError(ValueError):
    """The expression matches the CRD's pattern but names no time that ever comes (e.g. `0 0 31 2 *`)."""


def _value(text: str, names: dict[str, int]) -> int:
    return names[text.lower()] if text.lower() in names else int(text)


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The values one cron field matches."""
    values: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            first, last = body.split("-", 1)
            start, end = _value(first, names or {}), _value(last, names or {})
        else:
            start = _value(body, names or {})
            end = high if step_text else start
        if step < 1 or start < low or end > high or start > end:
            raise CronError(f"{text!r}: {part!r} is outside {low}-{high}")
        values.update(range(start, end + 1, step))
    return frozenset(values)


@cache
def period_seconds(schedule: str) -> int:
    """The longest interval between consecutive runs of `schedule`, in seconds."""
    schedule = schedule.strip()
    if schedule.startswith("@every "):
        amount = schedule.removeprefix("@every ")
        return int(amount[:-1]) * _UNIT_SECONDS[amount[-1]]
    minute, hour, dom, month, dow = _DESCRIPTORS.get(schedule, schedule).split()
    minutes = sorted(h * 60 + m for h in _field(hour, 0, 23) for m in _field(minute, 0, 59))
    days_of_month = _field(dom, 1, 31)
    months = _field(month, 1, 12, _MONTHS)
    weekdays = frozenset(d % 7 for d in _field(dow, 0, 7, _WEEKDAYS))  # 7 is Sunday too
    dom_any, dow_any = dom in ("*", "?"), dow in ("*", "?")

    def runs_on(day: date) -> bool:
        if day.month not in months:
            return False
        in_month, in_week = day.day in days_of_month, (day.isoweekday() % 7) in weekdays
        if dom_any or dow_any:
            return in_month and in_week
        return in_month or in_week

    days = [n for n in range(_SPAN_DAYS) if runs_on(_EPOCH + timedelta(days=n))]
    if not days:
        raise CronError(f"{schedule!r} never runs")
    within_day = [b - a for a, b in pairwise(minutes)]
    across_days = [(b - a) * 1440 - minutes[-1] + minutes[0] for a, b in pairwise(days)]
    return 60 * max([*within_day, *across_days])

"""Reads of the uptime history: per component and day, from the rollups plus today's intervals (2 queries).

A finished day comes from `DailyUptime`; today (and yesterday, until the sweeper has rolled it up
after midnight) is computed from the intervals overlapping it. However long the history, that is
two queries for any number of components and days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ersen_ops.status.models import DailyUptime
from ersen_ops.status.uptime import policy
from ersen_ops.status.uptime.services import compute_days, page_zone

ROLLUP_FIELDS = (
    "component_id",
    "day",
    "operational_seconds",
    "degraded_seconds",
    "partial_seconds",
    "major_seconds",
    "maintenance_seconds",
    "unknown_seconds",
    "worst_status",
)


def _from_row(row: dict) -> policy.DayUptime:
    seconds = {bucket: row[f"{bucket}_seconds"] for bucket in policy.BUCKETS}
    return policy.DayUptime(day=row["day"], seconds=seconds, worst_status=row["worst_status"])


def uptime_days(
    component_ids: list[int], days: list[date], *, now: datetime
) -> dict[int, dict[date, policy.DayUptime]]:
    """{component pk: {day: DayUptime}} for `days` (any days; the ones with neither a rollup nor an
    interval are absent: "no data"). Two queries."""
    if not component_ids or not days:
        return {}
    zone = page_zone()
    today = policy.day_of(now, zone)
    result: dict[int, dict[date, policy.DayUptime]] = {cid: {} for cid in component_ids}
    past = [d for d in days if d < today]
    if past:
        for row in DailyUptime.objects.filter(
            component_id__in=component_ids, day__gte=min(past), day__lte=max(past)
        ).values(*ROLLUP_FIELDS):
            result[row["component_id"]][row["day"]] = _from_row(row)
    # Today always live; yesterday live too when its rollup is not there yet (the sweeper runs every minute).
    yesterday = today - timedelta(days=1)
    live = [d for d in days if d == today or (d == yesterday and not any(d in r for r in result.values()))]
    live = [d for d in live if d <= today]
    if live:
        for cid, per_day in compute_days(live, now=now, component_ids=component_ids).items():
            for day, fig in per_day.items():
                if fig.worst_status:
                    result[cid][day] = fig
    return result


def period_uptime(per_day: dict[date, policy.DayUptime], days: list[date]) -> tuple[float | None, dict[str, int]]:
    """(uptime %, summed seconds) over `days` — seconds summed first, so every second weighs the same."""
    totals: dict[str, int] = dict.fromkeys(policy.BUCKETS, 0)
    for day in days:
        fig = per_day.get(day)
        if fig is not None:
            totals = policy.add_seconds(totals, fig.seconds)
    return policy.uptime_percent(totals), totals


@dataclass
class MonthRow:
    component_id: int
    name: str
    public: bool
    seconds: dict[str, int]
    uptime: float | None
    worst_status: str
    days_with_data: int


@dataclass
class MonthReport:
    year: int
    month: int
    days: list[date]
    rows: list[MonthRow]
    complete: bool  # the month is over (else: figures so far, today included)


def month_report(year: int, month: int, *, now: datetime) -> MonthReport:
    """Uptime per component for one calendar month in the page's zone (the "monthly SLA %"): 3 queries.

    Every non-group component that had a recorded status in the month, public or not (the report is internal),
    in the page's order. A month still running counts up to now."""
    from ersen_ops.status.models import Component

    days = policy.month_days(year, month)
    today = policy.day_of(now, page_zone())
    counted_days = [d for d in days if d <= today]
    components = list(
        Component.objects.filter(is_group=False).order_by("position", "name").values("id", "name", "public")
    )
    figures = uptime_days([c["id"] for c in components], counted_days, now=now)
    rows = []
    for c in components:
        per_day = figures.get(c["id"], {})
        if not per_day:
            continue
        uptime, seconds = period_uptime(per_day, counted_days)
        worst = ""
        for fig in per_day.values():
            worst = policy.worse(worst, fig.worst_status)
        rows.append(MonthRow(c["id"], c["name"], c["public"], seconds, uptime, worst, len(per_day)))
    return MonthReport(year=year, month=month, days=days, rows=rows, complete=days[-1] < today)

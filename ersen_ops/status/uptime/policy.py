"""Uptime rules, as pure functions (no database; `now` and the zone are passed in).

Weighting (Statuspage's documented rule for its uptime showcase): time in **major outage** counts
fully as downtime, **partial outage** counts 30 %, **degraded performance** counts as up. Time
under maintenance (the status `under_maintenance`, or any status while a window on the component
is in progress) is left out of the calculation, as is time with no recorded status:

    uptime % = 100 × (1 − (major + 0.3 × partial) / (operational + degraded + partial + major))

Days are calendar days in the public page's time zone (`OPS_STATUS_PAGE_TIME_ZONE`, by default
the team's `OPS_MAINTENANCE_TZ`): a day across a DST change lasts 23 or 25 hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ersen_ops.status.choices import ComponentStatus
from ersen_ops.status.policy import COMPONENT_SEVERITY

OPERATIONAL = ComponentStatus.OPERATIONAL.value
DEGRADED = ComponentStatus.DEGRADED_PERFORMANCE.value
PARTIAL = ComponentStatus.PARTIAL_OUTAGE.value
MAJOR = ComponentStatus.MAJOR_OUTAGE.value
UNDER_MAINTENANCE = ComponentStatus.UNDER_MAINTENANCE.value

# How much of a second in each status counts as downtime (Statuspage's weighting).
DOWNTIME_WEIGHT: dict[str, float] = {OPERATIONAL: 0.0, DEGRADED: 0.0, PARTIAL: 0.3, MAJOR: 1.0}
BUCKETS = ("operational", "degraded", "partial", "major", "maintenance", "unknown")
BUCKET_OF_STATUS = {OPERATIONAL: "operational", DEGRADED: "degraded", PARTIAL: "partial", MAJOR: "major"}
STATUS_OF_BUCKET = {bucket: status for status, bucket in BUCKET_OF_STATUS.items()}
HISTORY_DAYS = 90  # bars on the public page
SHORT_DAYS = 30  # the second uptime figure


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """[start, end) of a calendar day in `zone`, in UTC (23 or 25 hours apart across a DST change).

    UTC, because Python subtracts two datetimes of the same zone by their wall clocks (24 h, always)."""
    start = datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone).astimezone(UTC)
    return start, end


def day_of(moment: datetime, zone: ZoneInfo) -> date:
    return moment.astimezone(zone).date()


def bucket_of(status: str, in_maintenance: bool) -> str:
    if in_maintenance or status == UNDER_MAINTENANCE:
        return "maintenance"
    return BUCKET_OF_STATUS.get(status, "unknown")


@dataclass
class DayUptime:
    """Seconds per bucket of one component's day, and the worst public status seen that day ('' if none)."""

    day: date
    seconds: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BUCKETS, 0))
    worst_status: str = ""

    @property
    def uptime(self) -> float | None:
        return uptime_percent(self.seconds)


def worse(a: str, b: str) -> str:
    if not a:
        return b
    return b if COMPONENT_SEVERITY.get(b, 0) > COMPONENT_SEVERITY.get(a, 0) else a


def rollup_day(
    intervals: Iterable[tuple[str, bool, datetime, datetime | None]], *, day: date, zone: ZoneInfo, now: datetime
) -> DayUptime:
    """One component's day from its intervals [(status, in_maintenance, started_at, ended_at or None)].

    Counts only time up to `now` (today's figures are "so far"); the rest of the elapsed day, not
    covered by any interval, is `unknown`."""
    start, end = day_bounds(day, zone)
    stop = min(end, now)
    result = DayUptime(day=day)
    if stop < start:  # a day still to come
        return result
    exact = dict.fromkeys(BUCKETS, 0.0)
    for status, in_maintenance, began, ended in intervals:
        s = max(began, start)
        e = min(ended or stop, stop)
        if e < s or (e == s and not (ended is None and began == now and now < end)):
            continue  # outside the day; but a status that began just now is today's current status already
        exact[bucket_of(status, in_maintenance)] += (e - s).total_seconds()
        result.worst_status = worse(result.worst_status, status)
    known = sum(exact.values())
    exact["unknown"] = max(0.0, (stop - start).total_seconds() - known)
    result.seconds = {bucket: round(value) for bucket, value in exact.items()}
    return result


def add_seconds(totals: dict[str, int], seconds: dict[str, int]) -> dict[str, int]:
    return {bucket: totals.get(bucket, 0) + seconds.get(bucket, 0) for bucket in BUCKETS}


def downtime_seconds(seconds: dict[str, int]) -> float:
    return sum(seconds.get(BUCKET_OF_STATUS[s], 0) * w for s, w in DOWNTIME_WEIGHT.items())


def counted_seconds(seconds: dict[str, int]) -> int:
    return sum(seconds.get(b, 0) for b in ("operational", "degraded", "partial", "major"))


def uptime_percent(seconds: dict[str, int]) -> float | None:
    """The weighted uptime (0–100) of some seconds per bucket; None when nothing counted (all maintenance/unknown)."""
    counted = counted_seconds(seconds)
    if counted <= 0:
        return None
    return 100.0 * (1.0 - downtime_seconds(seconds) / counted)


def format_percent(value: float | None) -> str:
    """'99.95%' — two decimals, never rounded up to 100 % while there was downtime; '—' when nothing counted."""
    if value is None:
        return "no data"
    if value < 100.0:
        truncated = int(value * 100) / 100  # 99.999 must not read "100.00%"
        return f"{truncated:.2f}%"
    return "100%"


def days_back(today: date, count: int) -> list[date]:
    """The `count` days ending with `today`, oldest first."""
    return [today - timedelta(days=n) for n in range(count - 1, -1, -1)]


def month_days(year: int, month: int) -> list[date]:
    first = date(year, month, 1)
    following = date(year + (month == 12), month % 12 + 1, 1)
    return [first + timedelta(days=n) for n in range((following - first).days)]

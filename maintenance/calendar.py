"""The maintenance calendar: a month of windows and freezes, laid out in Pacific time (pure, no database).

`month_grid()` takes plain rows and returns weeks of days, each day listing the windows and freezes that
touch it in the maintenance zone. A window crossing midnight appears on each day it touches, marked as
continuing. The admin view (`admin_calendar.py`) loads the rows and renders the grid.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo

from maintenance.policy import ROUTINE_SLOT


@dataclass(frozen=True)
class Entry:
    """One window (or freeze) on one day."""

    pk: int
    title: str
    kind: str  # window type, or "freeze"
    status: str
    start: datetime  # in the zone
    end: datetime  # in the zone
    starts_today: bool
    ends_today: bool
    url: str = ""
    status_label: str = ""

    @property
    def time_label(self) -> str:
        start = self.start.strftime("%H:%M") if self.starts_today else "…"
        end = self.end.strftime("%H:%M") if self.ends_today else "…"
        return f"{start}–{end}"


@dataclass
class Day:
    day: date
    in_month: bool
    is_today: bool
    routine_slot: bool  # a Tue/Thu 02:00–04:00 routine slot
    entries: list[Entry] = field(default_factory=list)
    freezes: list[Entry] = field(default_factory=list)


@dataclass(frozen=True)
class Row:
    """What the grid needs of a window or a freeze."""

    pk: int
    title: str
    kind: str
    status: str
    start: datetime  # aware, any zone
    end: datetime
    url: str = ""
    status_label: str = ""


def month_bounds(year: int, month: int, zone: tzinfo) -> tuple[datetime, datetime]:
    """[first midnight of the month, first midnight of the next month) in `zone`, as aware datetimes."""
    start = datetime(year, month, 1, tzinfo=zone)
    nxt = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    return start, nxt


def grid_bounds(
    year: int, month: int, zone: tzinfo, *, firstweekday: int = calendar.MONDAY
) -> tuple[datetime, datetime]:
    """The whole weeks shown for the month (from the first shown day's midnight to after the last one)."""
    days = list(calendar.Calendar(firstweekday).itermonthdates(year, month))
    first, last = days[0], days[-1] + timedelta(days=1)
    return datetime.combine(first, time(), zone), datetime.combine(last, time(), zone)


def month_grid(
    year: int,
    month: int,
    *,
    zone: tzinfo,
    windows: list[Row],
    freezes: list[Row] = (),
    today: date | None = None,
    firstweekday: int = calendar.MONDAY,
) -> list[list[Day]]:
    """Weeks × days of the month in `zone`, each day with the windows and freezes that touch it."""
    weeks: list[list[Day]] = []
    for week in calendar.Calendar(firstweekday).monthdatescalendar(year, month):
        weeks.append(
            [
                Day(
                    day=d,
                    in_month=d.month == month,
                    is_today=d == today,
                    routine_slot=d.weekday() in ROUTINE_SLOT.weekdays,
                )
                for d in week
            ]
        )
    by_date = {d.day: d for week in weeks for d in week}
    for row, target in [*((w, "entries") for w in windows), *((f, "freezes") for f in freezes)]:
        start, end = row.start.astimezone(zone), row.end.astimezone(zone)
        last_day = (end - timedelta(microseconds=1)).date() if end > start else start.date()
        day = start.date()
        while day <= last_day:
            if day in by_date:
                getattr(by_date[day], target).append(
                    Entry(
                        pk=row.pk,
                        title=row.title,
                        kind=row.kind,
                        status=row.status,
                        start=start,
                        end=end,
                        starts_today=start.date() == day,
                        ends_today=last_day == day,
                        url=row.url,
                        status_label=row.status_label,
                    )
                )
            day += timedelta(days=1)
    for d in by_date.values():
        d.entries.sort(key=lambda e: (e.start, e.pk))
    return weeks


def parse_month(value: str | None, today: date) -> tuple[int, int]:
    """'2026-12' → (2026, 12); anything else → today's month."""
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        if 1 <= month <= 12 and 2000 <= year <= 2100:
            return year, month
    except ValueError:
        pass
    return today.year, today.month


def shift_month(year: int, month: int, delta: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + delta
    return index // 12, index % 12 + 1

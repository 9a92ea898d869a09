"""Pure incident rules: response times per level, the sprint calendar, SLA due times, breaches, re-paging,
the maintenance-window overlap rule and the MTTA/MTTR arithmetic.

No database, no clock: every function takes `now` (or the times it needs) as a parameter.
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from ersen_ops.core import wording
from ersen_ops.notifications.choices import Channel
from incidents.choices import LEVEL_RANK, Level

NEXT_SPRINT = "next_sprint"


@dataclass(frozen=True)
class LevelPolicy:
    """One row of the seed's "Incident Response Levels" table."""

    level: str
    definition: str
    response: timedelta | str  # a duration, or NEXT_SPRINT
    response_label: str
    escalation: str

    @property
    def response_phrase(self) -> str:
        """'respond within 15 min' / 'respond by the end of the next sprint'."""
        if self.response == NEXT_SPRINT:
            return "respond by the end of the next sprint"
        return f"respond within {self.response_label}"


LEVELS: dict[str, LevelPolicy] = {
    Level.P1: LevelPolicy(Level.P1, "Service down, data loss risk", timedelta(minutes=15), "15 min", "Immediate page"),
    Level.P2: LevelPolicy(Level.P2, "Major feature broken", timedelta(hours=1), "1 hour", "Slack alert"),
    Level.P3: LevelPolicy(Level.P3, "Minor bug, workaround exists", timedelta(hours=24), "24 hours", "Normal sprint"),
    Level.P4: LevelPolicy(Level.P4, "Cosmetic / enhancement", NEXT_SPRINT, "Next sprint", "Backlog"),
}


# Who is interrupted when an incident opens at (or is raised to) a level: the seed's "Escalation" column.
# P3 ("normal sprint") and P4 ("backlog") interrupt nobody; they wait in the admin's sprint/backlog lists.
ESCALATION_CHANNELS: dict[str, tuple[str, ...]] = {
    Level.P1: (Channel.PAGER, Channel.SLACK),
    Level.P2: (Channel.SLACK,),
    Level.P3: (),
    Level.P4: (),
}

# Where a missed response is escalated (besides the commander, by email). A P3/P4 breach is not worth
# an alert, but the team must hear of it: #team-ops.
BREACH_CHANNELS: dict[str, tuple[str, ...]] = {
    Level.P1: (Channel.PAGER, Channel.SLACK),
    Level.P2: (Channel.SLACK,),
    Level.P3: (Channel.SLACK_TEAM_OPS,),
    Level.P4: (Channel.SLACK_TEAM_OPS,),
}


def interrupts(level: str) -> bool:
    """Whether opening an incident of `level` alerts someone at once (the escalation table: P1, P2)."""
    return bool(ESCALATION_CHANNELS[level])


def pages(level: str) -> bool:
    """Whether an incident of `level` pages (the escalation table: P1)."""
    return Channel.PAGER in ESCALATION_CHANNELS[level]


def is_raise(old_level: str, new_level: str) -> bool:
    """P3 → P1 is a raise (more urgent)."""
    return LEVEL_RANK[new_level] < LEVEL_RANK[old_level]


# --- Sprint calendar ---------------------------------------------------------------


@dataclass(frozen=True)
class Sprint:
    index: int
    start: datetime  # aware, UTC
    end: datetime  # aware, UTC (exclusive: the next sprint's start)
    zone: str

    @property
    def first_day(self) -> date:
        return self.start.astimezone(zoneinfo.ZoneInfo(self.zone)).date()

    @property
    def last_day(self) -> date:
        return (self.end.astimezone(zoneinfo.ZoneInfo(self.zone)) - timedelta(days=1)).date()

    def __str__(self) -> str:
        return f"Sprint {self.index} ({self.first_day:%a %Y-%m-%d} – {self.last_day:%a %Y-%m-%d})"


@dataclass(frozen=True)
class SprintCalendar:
    """Sprints of `days` days from `start` (a date), each beginning at midnight in `zone` (the team's time)."""

    start: date
    days: int = 14
    zone: str = "America/Los_Angeles"

    def _start_of(self, index: int) -> datetime:
        first_day = self.start + timedelta(days=index * self.days)
        local = datetime.combine(first_day, time(0), tzinfo=zoneinfo.ZoneInfo(self.zone))
        return local.astimezone(UTC)

    def sprint(self, index: int) -> Sprint:
        return Sprint(index=index, start=self._start_of(index), end=self._start_of(index + 1), zone=self.zone)

    def sprint_at(self, moment: datetime) -> Sprint:
        local_day = moment.astimezone(zoneinfo.ZoneInfo(self.zone)).date()
        return self.sprint((local_day - self.start).days // self.days)


# --- Response SLA ------------------------------------------------------------------


def response_due_at(*, level: str, opened_at: datetime, calendar: SprintCalendar) -> datetime:
    """When acknowledgement is due for an incident of `level` opened at `opened_at`.

    P4 ("next sprint"): the end of the sprint after the one it was opened in.
    """
    response = LEVELS[level].response
    if response == NEXT_SPRINT:
        current = calendar.sprint_at(opened_at)
        return calendar.sprint(current.index + 1).end
    return opened_at + response


def due_after_level_change(
    *,
    old_level: str,
    new_level: str,
    old_due: datetime,
    opened_at: datetime,
    breached: bool,
    now: datetime,
    calendar: SprintCalendar,
) -> datetime:
    """The response due time after a level change.

    Raising: the earlier of the old due time and now + the new level's response time.
    Lowering: the new level's due time counted from the opening, but never earlier than the old
    due time, and a breach already recorded keeps its due time (lowering never excuses a breach).
    """
    if is_raise(old_level, new_level):
        return min(old_due, response_due_at(level=new_level, opened_at=now, calendar=calendar))
    if breached:
        return old_due
    return max(old_due, response_due_at(level=new_level, opened_at=opened_at, calendar=calendar))


def is_past_due(*, response_due_at: datetime, acknowledged_at: datetime | None, resolved_at: datetime | None, now: datetime) -> bool:
    """Unanswered and past its due time (the sweeper's breach test)."""
    return acknowledged_at is None and resolved_at is None and now > response_due_at


def acknowledged_late(*, response_due_at: datetime, acknowledged_at: datetime) -> bool:
    return acknowledged_at > response_due_at


# --- Re-paging ---------------------------------------------------------------------


def next_page_at(*, paging_since: datetime, last_paged_at: datetime | None, interval: timedelta) -> datetime:
    """The next page slot: paging_since + k × interval, the first slot after the last page.

    Slots are anchored on when paging began, so a late sweeper neither drifts the rhythm nor
    sends a page twice in one interval (a second run in the same slot finds nothing due).
    """
    if last_paged_at is None:
        return paging_since
    elapsed = (last_paged_at - paging_since) / interval
    return paging_since + interval * (math.floor(elapsed) + 1)


def repage_due(
    *,
    level: str,
    paging_since: datetime | None,
    last_paged_at: datetime | None,
    acknowledged_at: datetime | None,
    resolved_at: datetime | None,
    now: datetime,
    interval: timedelta,
) -> bool:
    if level != Level.P1 or acknowledged_at is not None or resolved_at is not None or paging_since is None:
        return False
    return now >= next_page_at(paging_since=paging_since, last_paged_at=last_paged_at, interval=interval)


# --- Maintenance window link --------------------------------------------------------


def window_link_problem(
    *,
    window_title: str,
    window_status: str,
    window_start: datetime,
    window_end: datetime,
    opened_at: datetime,
    resolved_at: datetime | None,
    now: datetime,
) -> str | None:
    """Why an incident cannot be linked to a maintenance window, or None if it can.

    An incident caused by maintenance must have been open at some moment during the window:
    the window [start, end] must overlap the incident's open time [opened, resolved or now].
    """
    if window_status in ("cancelled", "draft"):
        return f"Maintenance window “{window_title}” is {window_status}: it never ran, so it cannot have caused an incident."
    incident_end = resolved_at or max(now, opened_at)
    if window_start <= incident_end and window_end >= opened_at:
        return None
    return (
        f"Maintenance window “{window_title}” ran {format_range(window_start, window_end)}, which does not overlap "
        f"the incident's open time {format_range(opened_at, resolved_at, open_label='still open')}: "
        "an incident can only be linked to the window that was running while it was open."
    )


# --- Reporting: MTTA / MTTR / SLA attainment ----------------------------------------


@dataclass(frozen=True)
class IncidentTimes:
    level: str
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    response_due_at: datetime
    breached: bool


@dataclass(frozen=True)
class LevelStats:
    level: str
    days: int
    opened: int
    acknowledged: int
    resolved: int
    mtta: timedelta | None
    mttr: timedelta | None
    sla_met: int
    sla_missed: int

    @property
    def sla_attainment(self) -> float | None:
        """Share of decided responses that met the SLA (0–100), None when nothing was decided yet."""
        decided = self.sla_met + self.sla_missed
        return round(100 * self.sla_met / decided, 1) if decided else None


def _mean(durations: list[timedelta]) -> timedelta | None:
    if not durations:
        return None
    return timedelta(seconds=round(sum(d.total_seconds() for d in durations) / len(durations)))


def response_stats(rows: Iterable[IncidentTimes], *, now: datetime, days: int) -> dict[str, LevelStats]:
    """MTTA (open → acknowledgement), MTTR (open → resolution) and SLA attainment per level,
    for incidents opened in the last `days` days before `now`.

    A response met the SLA when it was acknowledged by its due time and no breach was recorded;
    missed when a breach was recorded or it was acknowledged late; incidents still waiting and
    not yet due are not counted either way.
    """
    since = now - timedelta(days=days)
    buckets: dict[str, list[IncidentTimes]] = {level: [] for level in Level.values}
    for row in rows:
        if since <= row.opened_at <= now:
            buckets[row.level].append(row)
    result = {}
    for level, items in buckets.items():
        acked = [r for r in items if r.acknowledged_at is not None]
        resolved = [r for r in items if r.resolved_at is not None]
        met = missed = 0
        for r in items:
            if r.breached or (r.acknowledged_at is not None and acknowledged_late(response_due_at=r.response_due_at, acknowledged_at=r.acknowledged_at)):
                missed += 1
            elif r.acknowledged_at is not None:
                met += 1
            elif now > r.response_due_at:
                missed += 1  # past due, the sweeper has not caught it yet
        result[level] = LevelStats(
            level=level,
            days=days,
            opened=len(items),
            acknowledged=len(acked),
            resolved=len(resolved),
            mtta=_mean([r.acknowledged_at - r.opened_at for r in acked]),
            mttr=_mean([r.resolved_at - r.opened_at for r in resolved]),
            sla_met=met,
            sla_missed=missed,
        )
    return result


# --- Wording --------------------------------------------------------------------------


format_duration = wording.duration  # '45 s', '12 min', '1 h 5 min', '2 d 3 h' — the one duration formatter
format_moment = wording.in_utc  # '2026-03-10 12:00 UTC'


def time_to_due(*, response_due_at: datetime, now: datetime) -> str:
    if now > response_due_at:
        return f"overdue by {format_duration(now - response_due_at)}"
    return f"due in {format_duration(response_due_at - now)}"


def format_range(start: datetime, end: datetime | None, *, open_label: str = "open") -> str:
    end_text = format_moment(end) if end is not None else open_label
    return f"{format_moment(start)} → {end_text}"


# --- What the incident protocol relies on (for the control room and ops_doctor) --------------------------


def channel_reliances(phase: str):
    """From the escalation and breach tables: which channel each level interrupts. A P1 page is blocking."""
    from ersen_ops.notifications.reliance import Reliance

    for level, channels in ESCALATION_CHANNELS.items():
        for channel in channels:
            paged = channel == Channel.PAGER
            yield Reliance(channel, f"{level} incidents" + (" (the immediate page)" if paged else ""), blocking=paged)
    for level, channels in BREACH_CHANNELS.items():
        for channel in channels:
            if channel not in ESCALATION_CHANNELS[level]:
                yield Reliance(channel, f"{level} incidents past their response time")

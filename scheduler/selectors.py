"""Reads of the scheduler: schedules with their last outcome, a schedule's next occurrences (marked when a known skip
date, freeze or the pause would skip them) and its history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import OuterRef, QuerySet, Subquery

from ersen_ops.core.kit import now_or
from scheduler import policy
from scheduler.models import Occurrence, Schedule

NEXT_OCCURRENCES = 10
HISTORY_ROWS = 50


def schedule_list() -> QuerySet[Schedule]:
    last = Occurrence.objects.filter(schedule=OuterRef("pk")).order_by("-due_at")
    return Schedule.objects.select_related("runbook", "host", "host_group").annotate(
        last_outcome=Subquery(last.values("outcome")[:1]),
        last_due_at=Subquery(last.values("due_at")[:1]),
        last_execution_id=Subquery(last.values("execution_id")[:1]),
        last_group_run_id=Subquery(last.values("group_run_id")[:1]),
    )


def next_run(schedule: Schedule, *, now: datetime | None = None) -> datetime | None:
    if not schedule.enabled:
        return None
    after = max(now_or(now), schedule.evaluated_until or now_or(now))
    found = policy.next_due_times(schedule.cron, zone=_zone(), after=after, count=1)
    return found[0] if found else None


def _zone() -> str:
    from django.conf import settings

    return settings.OPS_MAINTENANCE_TZ


@dataclass(frozen=True)
class Upcoming:
    due_at: datetime
    would_skip: str  # the rule that would skip it as known now ("" = would run)


def upcoming(schedule: Schedule, *, now: datetime | None = None, count: int = NEXT_OCCURRENCES) -> list[Upcoming]:
    """The next `count` due times, each with what would skip it as far as is known now (skip dates, freezes for a
    runbook that changes a host, the pause). Windows are not known ahead: the window rule is decided at the tick."""
    from maintenance.models import FreezePeriod
    from runbooks.selectors import runbook_changes_a_host
    from scheduler.services import switch_get

    now = now_or(now)
    times = policy.next_due_times(schedule.cron, zone=_zone(), after=now, count=count)
    if not times:
        return []
    disruptive = runbook_changes_a_host(schedule.runbook)
    freezes = (
        [
            policy.FreezeFact(name=f.name, start=f.start, end=f.end)
            for f in FreezePeriod.objects.filter(start__lte=times[-1], end__gt=times[0])
        ]
        if disruptive
        else []
    )
    switch = switch_get()
    out = []
    for due_at in times:
        facts = policy.RunFacts(
            due_at=due_at,
            zone=_zone(),
            paused_by=switch.paused_by_name if switch.paused else None,
            pause_reason=switch.reason if switch.paused else "",
            skip_dates=schedule.skip_dates or (),
            disruptive=disruptive,
            freezes=[f for f in freezes if f.start <= due_at < f.end],
            phase="prelaunch",  # the window rule is decided when it is due, not predicted here
        )
        verdict = policy.verdict(facts)
        out.append(Upcoming(due_at=due_at, would_skip="" if verdict.run else verdict.reason))
    return out


def history(schedule: Schedule, *, rows: int = HISTORY_ROWS) -> list[Occurrence]:
    return list(schedule.occurrences.order_by("-due_at")[:rows])


def occurrence_list() -> QuerySet[Occurrence]:
    return Occurrence.objects.select_related("schedule")

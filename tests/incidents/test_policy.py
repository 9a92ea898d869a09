"""Pure SLA rules: due times per level (the seed's table), the sprint calendar, raise/lower, re-page slots, MTTA/MTTR."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from incidents import policy
from incidents.choices import Level

# Sprints of 14 days starting Monday 2026-01-05, midnight Pacific (08:00 UTC in winter).
CAL = policy.SprintCalendar(start=date(2026, 1, 5), days=14, zone="America/Los_Angeles")


def utc(*args):
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "level, expected",
    [
        (Level.P1, timedelta(minutes=15)),
        (Level.P2, timedelta(hours=1)),
        (Level.P3, timedelta(hours=24)),
    ],
)
def test_response_due_is_opened_plus_the_levels_response_time(level, expected):
    opened = utc(2026, 3, 10, 12, 0)
    assert policy.response_due_at(level=level, opened_at=opened, calendar=CAL) == opened + expected


def test_sprint_boundaries_are_midnight_in_the_team_zone():
    first = CAL.sprint(0)
    assert first.start == utc(2026, 1, 5, 8, 0)  # 00:00 PST
    assert first.end == utc(2026, 1, 19, 8, 0)
    assert str(first) == "Sprint 0 (Mon 2026-01-05 – Sun 2026-01-18)"
    # Across daylight saving time (2026-03-08) the boundary stays at local midnight: 07:00 UTC in PDT.
    assert CAL.sprint(5).start == utc(2026, 3, 16, 7, 0)


def test_p4_is_due_at_the_end_of_the_next_sprint_around_a_sprint_boundary():
    # Sprint 1 runs 2026-01-19 … 2026-02-01 (Pacific); sprint 2 ends at 2026-02-16 00:00 PST.
    last_minute_of_sprint_1 = utc(2026, 2, 2, 7, 59)  # Sun 2026-02-01 23:59 PST
    first_minute_of_sprint_2 = utc(2026, 2, 2, 8, 0)  # Mon 2026-02-02 00:00 PST
    assert CAL.sprint_at(last_minute_of_sprint_1).index == 1
    assert CAL.sprint_at(first_minute_of_sprint_2).index == 2
    assert policy.response_due_at(level=Level.P4, opened_at=last_minute_of_sprint_1, calendar=CAL) == utc(2026, 2, 16, 8, 0)
    assert policy.response_due_at(level=Level.P4, opened_at=first_minute_of_sprint_2, calendar=CAL) == utc(2026, 3, 2, 8, 0)


def test_sprints_before_the_configured_start_are_counted_backwards():
    assert CAL.sprint_at(utc(2026, 1, 1, 12, 0)).index == -1
    assert policy.response_due_at(level=Level.P4, opened_at=utc(2026, 1, 1, 12, 0), calendar=CAL) == utc(2026, 1, 19, 8, 0)


def test_raising_the_level_takes_the_earlier_of_old_due_and_now_plus_new_response():
    opened = utc(2026, 3, 10, 12, 0)
    old_due = opened + timedelta(hours=24)  # P3
    now = opened + timedelta(hours=2)
    due = policy.due_after_level_change(
        old_level=Level.P3, new_level=Level.P1, old_due=old_due, opened_at=opened, breached=False, now=now, calendar=CAL
    )
    assert due == now + timedelta(minutes=15)
    # P2 opened 12:00 (due 13:00), raised to P1 at 12:50: now + 15 min = 13:05 is later, so 13:00 stays.
    due = policy.due_after_level_change(
        old_level=Level.P2, new_level=Level.P1, old_due=utc(2026, 3, 10, 13, 0), opened_at=opened,
        breached=False, now=utc(2026, 3, 10, 12, 50), calendar=CAL,
    )
    assert due == utc(2026, 3, 10, 13, 0)


def test_lowering_the_level_relaxes_an_unbreached_due_time_from_the_opening():
    opened = utc(2026, 3, 10, 12, 0)
    due = policy.due_after_level_change(
        old_level=Level.P1, new_level=Level.P2, old_due=opened + timedelta(minutes=15), opened_at=opened,
        breached=False, now=opened + timedelta(minutes=5), calendar=CAL,
    )
    assert due == opened + timedelta(hours=1)


def test_lowering_the_level_never_extends_a_recorded_breach():
    opened = utc(2026, 3, 10, 12, 0)
    old_due = opened + timedelta(minutes=15)
    due = policy.due_after_level_change(
        old_level=Level.P1, new_level=Level.P4, old_due=old_due, opened_at=opened,
        breached=True, now=opened + timedelta(minutes=30), calendar=CAL,
    )
    assert due == old_due


def test_past_due_only_when_unacknowledged_and_strictly_after_the_due_time():
    due = utc(2026, 3, 10, 12, 15)
    assert not policy.is_past_due(response_due_at=due, acknowledged_at=None, resolved_at=None, now=due)
    assert policy.is_past_due(response_due_at=due, acknowledged_at=None, resolved_at=None, now=due + timedelta(seconds=1))
    assert not policy.is_past_due(response_due_at=due, acknowledged_at=due, resolved_at=None, now=due + timedelta(hours=1))


def test_page_slots_are_anchored_on_when_paging_began_so_a_late_sweeper_does_not_drift():
    since = utc(2026, 3, 10, 12, 0)
    five = timedelta(minutes=5)
    assert policy.next_page_at(paging_since=since, last_paged_at=since, interval=five) == utc(2026, 3, 10, 12, 5)
    # Paged late at 12:05:50: the next slot is still 12:10, not 12:10:50.
    late = utc(2026, 3, 10, 12, 5, 50)
    assert policy.next_page_at(paging_since=since, last_paged_at=late, interval=five) == utc(2026, 3, 10, 12, 10)
    kwargs = dict(level=Level.P1, paging_since=since, acknowledged_at=None, resolved_at=None, interval=five)
    assert not policy.repage_due(last_paged_at=late, now=utc(2026, 3, 10, 12, 9, 59), **kwargs)
    assert policy.repage_due(last_paged_at=late, now=utc(2026, 3, 10, 12, 10), **kwargs)
    assert not policy.repage_due(**{**kwargs, "acknowledged_at": late}, last_paged_at=late, now=utc(2026, 3, 10, 13))
    assert not policy.repage_due(**{**kwargs, "level": Level.P2}, last_paged_at=late, now=utc(2026, 3, 10, 13))


def test_window_link_needs_the_window_to_overlap_the_incidents_open_time():
    kwargs = dict(window_title="DB upgrade", window_status="completed", window_start=utc(2026, 3, 10, 10, 0),
                  window_end=utc(2026, 3, 10, 11, 0), now=utc(2026, 3, 11, 0, 0))
    assert policy.window_link_problem(opened_at=utc(2026, 3, 10, 10, 30), resolved_at=None, **kwargs) is None
    assert policy.window_link_problem(opened_at=utc(2026, 3, 10, 9, 0), resolved_at=utc(2026, 3, 10, 10, 5), **kwargs) is None
    problem = policy.window_link_problem(opened_at=utc(2026, 3, 10, 12, 0), resolved_at=utc(2026, 3, 10, 13, 0), **kwargs)
    assert problem == (
        "Maintenance window “DB upgrade” ran 2026-03-10 10:00 UTC → 2026-03-10 11:00 UTC, which does not overlap the "
        "incident's open time 2026-03-10 12:00 UTC → 2026-03-10 13:00 UTC: an incident can only be linked to the "
        "window that was running while it was open."
    )
    cancelled = policy.window_link_problem(
        opened_at=utc(2026, 3, 10, 10, 30), resolved_at=None, **{**kwargs, "window_status": "cancelled"}
    )
    assert "cancelled" in cancelled and "never ran" in cancelled


def test_mtta_mttr_and_sla_attainment_on_a_fixed_data_set():
    now = utc(2026, 6, 1, 0, 0)
    m = timedelta(minutes=1)

    def row(level, days_ago, ack_min, res_min, due_min, breached=False):
        opened = now - timedelta(days=days_ago)
        return policy.IncidentTimes(
            level=level,
            opened_at=opened,
            acknowledged_at=opened + ack_min * m if ack_min is not None else None,
            resolved_at=opened + res_min * m if res_min is not None else None,
            response_due_at=opened + due_min * m,
            breached=breached,
        )

    rows = [
        row(Level.P1, 1, 5, 65, 15),  # met
        row(Level.P1, 10, 20, 125, 15, breached=True),  # missed (breached)
        row(Level.P1, 60, 10, 40, 15),  # only in the 90-day window
        row(Level.P1, 120, 1, 2, 15),  # outside both windows
        row(Level.P2, 3, 30, None, 60),  # met, unresolved
        row(Level.P2, 4, 70, 200, 60),  # acknowledged late: missed though not flagged
        row(Level.P4, 2, None, None, 7 * 24 * 60),  # still waiting, not yet due: not counted
    ]
    last30 = policy.response_stats(rows, now=now, days=30)
    p1 = last30[Level.P1]
    assert (p1.opened, p1.acknowledged, p1.resolved) == (2, 2, 2)
    assert p1.mtta == timedelta(minutes=12, seconds=30)  # (5 + 20) / 2
    assert p1.mttr == timedelta(minutes=95)  # (65 + 125) / 2
    assert (p1.sla_met, p1.sla_missed, p1.sla_attainment) == (1, 1, 50.0)
    p2 = last30[Level.P2]
    assert p2.mtta == timedelta(minutes=50) and p2.mttr == timedelta(minutes=200)
    assert p2.sla_attainment == 50.0
    p4 = last30[Level.P4]
    assert (p4.opened, p4.mtta, p4.sla_met, p4.sla_missed, p4.sla_attainment) == (1, None, 0, 0, None)
    assert last30[Level.P3].opened == 0

    p1_90 = policy.response_stats(rows, now=now, days=90)[Level.P1]
    assert p1_90.opened == 3
    assert p1_90.mtta == timedelta(minutes=35) / 3
    assert p1_90.mttr == timedelta(minutes=230) / 3
    assert p1_90.sla_attainment == 66.7


def test_durations_read_like_an_operator_would_say_them():
    assert policy.format_duration(timedelta(seconds=45)) == "45 s"
    assert policy.format_duration(timedelta(minutes=12, seconds=5)) == "12 min"
    assert policy.format_duration(timedelta(hours=1, minutes=5)) == "1 h 5 min"
    assert policy.format_duration(timedelta(days=2, hours=3)) == "2 d 3 h"
    assert policy.time_to_due(response_due_at=utc(2026, 1, 1, 12, 15), now=utc(2026, 1, 1, 12, 0)) == "due in 15 min"
    assert policy.time_to_due(response_due_at=utc(2026, 1, 1, 12, 15), now=utc(2026, 1, 1, 12, 20)) == "overdue by 5 min"

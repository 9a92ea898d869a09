"""Due times across both DST transitions of the team's zone (America/Los_Angeles in the tests), with time-machine:
a 02:30 job runs once on the spring-forward night (at 03:00, the first valid instant after the gap) and once on the
fall-back night (the first 01:30); hourly jobs run once per real hour on both nights."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.conf import settings

from ersen_ops.core.errors import PolicyViolation
from scheduler import policy

LA = zoneinfo.ZoneInfo("America/Los_Angeles")


@pytest.fixture(autouse=True)
def _zone():
    assert settings.OPS_MAINTENANCE_TZ == "America/Los_Angeles"


def local(times):
    return [t.astimezone(LA).strftime("%m-%d %H:%M %Z") for t in times]


def due(cron, after, until):
    return policy.due_times(cron, zone=settings.OPS_MAINTENANCE_TZ, after=after, until=until)


def test_a_0230_daily_job_runs_once_on_the_spring_forward_night_at_0300():
    with time_machine.travel(datetime(2027, 3, 16, 0, 0, tzinfo=UTC), tick=False):
        now = datetime.now(UTC)
        assert local(due("30 2 * * *", now - timedelta(days=3), now)) == [
            "03-13 02:30 PST",
            "03-14 03:00 PDT",  # 02:30 does not exist that night
            "03-15 02:30 PDT",
        ]


def test_a_0130_daily_job_runs_once_on_the_fall_back_night_the_first_0130():
    with time_machine.travel(datetime(2027, 11, 9, 0, 0, tzinfo=UTC), tick=False):
        now = datetime.now(UTC)
        times = due("30 1 * * *", now - timedelta(days=3), now)
        assert local(times) == ["11-06 01:30 PDT", "11-07 01:30 PDT", "11-08 01:30 PST"]
        assert times[1] == datetime(2027, 11, 7, 8, 30, tzinfo=UTC)  # the daylight-time copy, not the repeat


def test_an_hourly_job_runs_once_per_real_hour_across_spring_forward():
    times = due("0 * * * *", datetime(2027, 3, 14, 8, 0, tzinfo=UTC), datetime(2027, 3, 14, 12, 0, tzinfo=UTC))
    assert local(times) == ["03-14 01:00 PST", "03-14 03:00 PDT", "03-14 04:00 PDT", "03-14 05:00 PDT"]
    assert all(b - a == timedelta(hours=1) for a, b in zip(times, times[1:], strict=False))


def test_an_hourly_job_runs_in_both_copies_of_the_repeated_hour_once_each():
    times = due("0 * * * *", datetime(2027, 11, 7, 6, 0, tzinfo=UTC), datetime(2027, 11, 7, 11, 0, tzinfo=UTC))
    assert local(times) == [
        "11-07 00:00 PDT",
        "11-07 01:00 PDT",
        "11-07 01:00 PST",
        "11-07 02:00 PST",
        "11-07 03:00 PST",
    ]
    assert all(b - a == timedelta(hours=1) for a, b in zip(times, times[1:], strict=False))


def test_several_times_in_the_gap_are_one_run():
    times = due("0,30 2 * * *", datetime(2027, 3, 14, 8, 0, tzinfo=UTC), datetime(2027, 3, 14, 12, 0, tzinfo=UTC))
    assert local(times) == ["03-14 03:00 PDT"]


def test_next_occurrences_follow_the_weekday_in_the_team_zone():
    after = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    times = policy.next_due_times("0 4 * * sun", zone="America/Los_Angeles", after=after, count=3)
    assert local(times) == ["12-06 04:00 PST", "12-13 04:00 PST", "12-20 04:00 PST"]


@pytest.mark.parametrize(
    "expression, message",
    [
        ("* * * *", "5 fields"),
        ("61 * * * *", "minute: 61 is outside 0–59"),
        ("0 5-2 * * *", "range '5-2' goes backwards"),
        ("*/0 * * * *", "step '0'"),
        ("0 3 * foo *", "month: 'foo' is not a number"),
    ],
)
def test_a_bad_cron_expression_is_refused_naming_the_field(expression, message):
    with pytest.raises(PolicyViolation, match=message):
        policy.parse_cron(expression)


def test_late_due_times_are_missed_and_catch_up_runs_the_latest_once():
    now = datetime(2027, 1, 5, 12, 0, tzinfo=UTC)
    times = [now - timedelta(minutes=m) for m in (30, 20, 10)]
    assert [k for _, k in policy.classify(times, now=now, grace_seconds=180, catch_up=False)] == ["missed"] * 3
    assert [k for _, k in policy.classify(times, now=now, grace_seconds=180, catch_up=True)] == [
        "missed",
        "missed",
        "catch_up",
    ]
    on_time = [*times, now - timedelta(seconds=30)]
    assert [k for _, k in policy.classify(on_time, now=now, grace_seconds=180, catch_up=True)] == [
        "missed",
        "missed",
        "missed",
        "on_time",
    ]

"""Uptime rules: Statuspage's weighting, days in the page's zone across DST changes and month ends."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ersen_ops.status.uptime import policy

LA = ZoneInfo("America/Los_Angeles")


def test_weighting_major_counts_fully_partial_30_percent_degraded_not_maintenance_left_out():
    seconds = {"operational": 7000, "degraded": 1000, "partial": 1000, "major": 1000, "maintenance": 5000}
    # downtime = 1000 + 0.3 × 1000 = 1300 of 10,000 counted seconds (maintenance left out)
    assert policy.uptime_percent(seconds) == 87.0
    assert policy.uptime_percent({"maintenance": 3600, "unknown": 100}) is None


def test_percent_never_rounds_a_bad_day_up_to_100():
    assert policy.format_percent(99.9999) == "99.99%"
    assert policy.format_percent(100.0) == "100%"
    assert policy.format_percent(None) == "no data"


def test_spring_forward_day_has_23_hours_and_fall_back_day_25():
    start, end = policy.day_bounds(date(2027, 3, 14), LA)
    assert end - start == timedelta(hours=23)
    start, end = policy.day_bounds(date(2027, 11, 7), LA)
    assert end - start == timedelta(hours=25)
    assert start == datetime(2027, 11, 7, 7, 0, tzinfo=UTC)  # midnight PDT


def test_a_whole_fall_back_day_operational_is_25_hours_of_uptime():
    day = date(2027, 11, 7)
    start, end = policy.day_bounds(day, LA)
    fig = policy.rollup_day([("operational", False, start - timedelta(days=1), None)], day=day, zone=LA, now=end)
    assert fig.seconds["operational"] == 25 * 3600 and fig.seconds["unknown"] == 0
    assert fig.uptime == 100.0


def test_an_outage_across_midnight_splits_between_the_two_days():
    # 23:30 PST 31 January to 00:30 PST 1 February: half an hour on each day (and each month).
    began = datetime(2027, 2, 1, 7, 30, tzinfo=UTC)
    ended = began + timedelta(hours=1)
    rows = [
        ("operational", False, began - timedelta(days=2), began),
        ("major_outage", False, began, ended),
        ("operational", False, ended, None),
    ]
    now = datetime(2027, 2, 3, tzinfo=UTC)
    jan31 = policy.rollup_day(rows, day=date(2027, 1, 31), zone=LA, now=now)
    feb1 = policy.rollup_day(rows, day=date(2027, 2, 1), zone=LA, now=now)
    assert jan31.seconds["major"] == 1800 and feb1.seconds["major"] == 1800
    assert jan31.worst_status == feb1.worst_status == "major_outage"
    assert round(jan31.uptime, 4) == round(100 * (1 - 1800 / 86400), 4)


def test_today_counts_only_time_so_far_and_before_history_is_unknown():
    day = date(2027, 1, 11)
    start, _ = policy.day_bounds(day, LA)
    fig = policy.rollup_day(
        [("degraded_performance", False, start + timedelta(hours=2), None)],
        day=day,
        zone=LA,
        now=start + timedelta(hours=6),
    )
    assert fig.seconds["degraded"] == 4 * 3600 and fig.seconds["unknown"] == 2 * 3600
    assert fig.uptime == 100.0  # degraded performance counts as up


def test_month_days():
    assert len(policy.month_days(2028, 2)) == 29
    assert policy.month_days(2027, 12)[-1] == date(2027, 12, 31)


def test_a_status_that_began_at_midnight_belongs_to_the_new_day_only():
    day = date(2027, 1, 11)
    _, midnight = policy.day_bounds(day, LA)
    rows = [("operational", False, midnight - timedelta(days=1), midnight), ("major_outage", False, midnight, None)]
    assert policy.rollup_day(rows, day=day, zone=LA, now=midnight + timedelta(hours=1)).worst_status == "operational"
    today = policy.rollup_day(rows, day=date(2027, 1, 12), zone=LA, now=midnight)
    assert today.worst_status == "major_outage"  # the current status, even before a second has passed

"""The maintenance calendar: a month in Pacific time, windows coloured by type, freezes, permission, constant queries."""

from __future__ import annotations

import zoneinfo
from datetime import date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from maintenance import calendar as cal
from maintenance.choices import MaintenanceType, WindowStatus
from tests.factories import UserFactory
from tests.maintenance.factories import FreezePeriodFactory, MaintenanceWindowFactory, utc

PACIFIC = zoneinfo.ZoneInfo("America/Los_Angeles")
URL = reverse("admin:maintenance_maintenancewindow_calendar")


def row(pk, start, end, kind="routine", status="scheduled"):
    return cal.Row(pk=pk, title=f"w{pk}", kind=kind, status=status, start=start, end=end)


# --- the grid (pure) -----------------------------------------------------------------------------------------


def test_month_grid_places_windows_on_their_pacific_day():
    # 2027-01-12 10:00 UTC is Tuesday 02:00 PST; 2027-01-14 07:30 UTC is Wednesday 23:30 PST (not Thursday).
    weeks = cal.month_grid(
        2027,
        1,
        zone=PACIFIC,
        windows=[
            row(1, utc(2027, 1, 12, 10, 0), utc(2027, 1, 12, 11, 0)),
            row(2, utc(2027, 1, 14, 7, 30), utc(2027, 1, 14, 7, 45)),
        ],
    )
    days = {d.day: d for week in weeks for d in week}
    assert [e.pk for e in days[date(2027, 1, 12)].entries] == [1]
    assert days[date(2027, 1, 12)].entries[0].time_label == "02:00–03:00"
    assert [e.pk for e in days[date(2027, 1, 13)].entries] == [2]
    assert days[date(2027, 1, 14)].entries == []
    assert all(len(week) == 7 for week in weeks) and weeks[0][0].day == date(2026, 12, 28)  # Monday first
    assert days[date(2027, 1, 12)].routine_slot and days[date(2027, 1, 14)].routine_slot
    assert not days[date(2027, 1, 13)].routine_slot
    assert not days[date(2026, 12, 28)].in_month and days[date(2027, 1, 1)].in_month


def test_a_window_across_midnight_appears_on_both_days_marked_as_continuing():
    weeks = cal.month_grid(2027, 1, zone=PACIFIC, windows=[row(7, utc(2027, 1, 20, 7, 0), utc(2027, 1, 20, 10, 0))])
    days = {d.day: d for week in weeks for d in week}
    assert days[date(2027, 1, 19)].entries[0].time_label == "23:00–…"
    assert days[date(2027, 1, 20)].entries[0].time_label == "…–02:00"


def test_a_window_ending_at_midnight_does_not_spill_into_the_next_day():
    start = datetime(2027, 1, 21, 22, 0, tzinfo=PACIFIC)
    weeks = cal.month_grid(2027, 1, zone=PACIFIC, windows=[row(3, start, start + timedelta(hours=2))])
    days = {d.day: d for week in weeks for d in week}
    assert [e.time_label for e in days[date(2027, 1, 21)].entries] == ["22:00–00:00"]
    assert days[date(2027, 1, 22)].entries == []


def test_daylight_saving_start_keeps_local_wall_times():
    # 2027-03-14: clocks go forward at 02:00 PST. A window 01:00 PST → 03:30 PDT is on Sunday the 14th.
    start = datetime(2027, 3, 14, 9, 0, tzinfo=zoneinfo.ZoneInfo("UTC"))
    weeks = cal.month_grid(2027, 3, zone=PACIFIC, windows=[row(4, start, start + timedelta(hours=1, minutes=30))])
    days = {d.day: d for week in weeks for d in week}
    assert days[date(2027, 3, 14)].entries[0].time_label == "01:00–03:30"


def test_freeze_periods_shade_every_day_they_touch():
    freeze = row(9, datetime(2027, 1, 11, tzinfo=PACIFIC), datetime(2027, 1, 14, tzinfo=PACIFIC), kind="freeze")
    weeks = cal.month_grid(2027, 1, zone=PACIFIC, windows=[], freezes=[freeze])
    frozen = [d.day.day for week in weeks for d in week if d.freezes]
    assert frozen == [11, 12, 13]


def test_month_parameter_falls_back_to_the_current_month():
    today = date(2026, 11, 27)
    assert cal.parse_month("2027-02", today) == (2027, 2)
    assert cal.parse_month("2027-13", today) == (2026, 11)
    assert cal.parse_month("'; drop", today) == (2026, 11)
    assert cal.shift_month(2026, 12, 1) == (2027, 1) and cal.shift_month(2027, 1, -1) == (2026, 12)


# --- the page ----------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_calendar_page_shows_windows_coloured_by_type_with_links(client, users):
    routine = MaintenanceWindowFactory(title="Deploy 2.4", planned_start=utc(2027, 1, 12, 10, 0))
    emergency = MaintenanceWindowFactory(
        title="Failover",
        type=MaintenanceType.EMERGENCY,
        status=WindowStatus.IN_PROGRESS,
        planned_start=utc(2027, 1, 15, 3, 0),
        actual_start=utc(2027, 1, 15, 3, 5),
        eta=utc(2027, 1, 15, 5, 0),
    )
    FreezePeriodFactory(name="Launch freeze", start=utc(2027, 1, 20, 8, 0), end=utc(2027, 1, 22, 8, 0))
    client.force_login(users["viewer"])
    response = client.get(URL, {"month": "2027-01"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Maintenance calendar — January 2027" in html and "America/Los_Angeles" in html
    assert f'href="{reverse("admin:maintenance_maintenancewindow_change", args=[routine.pk])}"' in html
    assert 'class="cal-entry type-routine status-draft"' in html  # the factory's window is a draft
    assert 'class="cal-entry type-emergency status-in_progress"' in html
    assert ".cal-entry.type-emergency { border-left-color: #c62828; }" in html
    assert "19:05–21:00" in html  # 03:05 UTC on the 15th is 19:05 PST on the 14th; ETA 21:00 PST
    assert str(emergency.pk) in html and "❄ Launch freeze" in html
    assert "?month=2026-12" in html and "?month=2027-02" in html


@pytest.mark.django_db
def test_calendar_needs_the_view_permission(client):
    client.force_login(UserFactory(username="staff-only"))
    assert client.get(URL).status_code == 403


@pytest.mark.django_db
def test_calendar_is_linked_from_the_maintenance_app_and_list(client, users):
    client.force_login(users["viewer"])
    assert URL in client.get(reverse("admin:app_list", args=["maintenance"])).content.decode()
    assert URL in client.get(reverse("admin:maintenance_maintenancewindow_changelist")).content.decode()


@pytest.mark.django_db
def test_calendar_query_count_does_not_grow_with_windows(client, users, django_assert_num_queries):
    def make(n, offset):
        for i in range(n):
            start = utc(2027, 1, 1 + (i + offset) % 28, 10, 0)
            MaintenanceWindowFactory(planned_start=start, owner=users["operator"])

    make(3, 0)
    client.force_login(users["viewer"])
    with CaptureQueriesContext(connection) as few:
        client.get(URL, {"month": "2027-01"})
    make(40, 3)
    with django_assert_num_queries(len(few)):
        html = client.get(URL, {"month": "2027-01"}).content.decode()
    assert html.count('class="cal-entry') == 43

"""The admin's monthly uptime report ("monthly SLA %") and its CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth import get_user_model

from ersen_ops.audit.models import AuditEvent
from ersen_ops.status.models import StatusInterval
from ersen_ops.status.uptime import services as uptime
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db

URL = "/admin/status/component/uptime/"
NOW = datetime(2027, 3, 10, 12, 0, tzinfo=UTC)  # page zone UTC (the status tests' setting)


def interval(component, status, start, end=None, in_maintenance=False):
    return StatusInterval.objects.create(
        component=component, status=status, started_at=start, ended_at=end, in_maintenance=in_maintenance
    )


@pytest.fixture
def february():
    """API: all of February operational but a 2 h major outage on the 28th 23:00 → 1 March 01:00 (split at the
    month's end) and a 1 h window; Login: a 10 h partial outage on the 3rd."""
    api = ComponentFactory(name="API", position=1)
    login = ComponentFactory(name="Login", position=2)
    feb1 = datetime(2027, 2, 1, tzinfo=UTC)
    outage = datetime(2027, 2, 28, 23, 0, tzinfo=UTC)
    window = datetime(2027, 2, 9, 10, 0, tzinfo=UTC)
    interval(api, "operational", feb1 - timedelta(days=5), window)
    interval(api, "under_maintenance", window, window + timedelta(hours=1), in_maintenance=True)
    interval(api, "operational", window + timedelta(hours=1), outage)
    interval(api, "major_outage", outage, outage + timedelta(hours=2))
    interval(api, "operational", outage + timedelta(hours=2))
    broke = datetime(2027, 2, 3, 8, 0, tzinfo=UTC)
    interval(login, "operational", feb1, broke)
    interval(login, "partial_outage", broke, broke + timedelta(hours=10))
    interval(login, "operational", broke + timedelta(hours=10))
    uptime.uptime_rollup(now=NOW)
    return api, login


def get(client, user, **params):
    with time_machine.travel(NOW, tick=False):  # logged in at the report's "now" (sessions expire)
        client.force_login(user)
        return client.get(URL, params)


def test_the_report_shows_each_components_uptime_for_the_month(client, users, february, django_assert_num_queries):
    response = get(client, users["viewer"], month="2027-02")
    assert response.status_code == 200
    html = response.content.decode()
    # API: 1 h down of 28 d − 1 h maintenance counted; Login: 0.3 × 10 h of 28 d.
    api_uptime = 100 * (1 - 3600 / (28 * 86400 - 3600))
    login_uptime = 100 * (1 - 0.3 * 10 / (28 * 24))
    assert f"<strong>{int(api_uptime * 100) / 100:.2f}%</strong>" in html  # 99.85%
    assert f"<strong>{int(login_uptime * 100) / 100:.2f}%</strong>" in html  # 99.55%
    assert "The month is over: these figures are final." in html
    assert 'data-component="API"' in html and 'data-component="Login"' in html


def test_the_report_costs_the_same_queries_for_any_month(client, users, february, django_assert_num_queries):
    get(client, users["viewer"], month="2027-02")
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(8):  # session, user, perms … + 3 of the report
        client.get(URL, {"month": "2027-02"})
    for n in range(5):
        c = ComponentFactory(name=f"Service {n}")
        interval(c, "operational", datetime(2026, 1, 1, tzinfo=UTC))
    with time_machine.travel(NOW, tick=False):
        uptime.uptime_rollup(now=NOW)
    with time_machine.travel(NOW, tick=False), django_assert_num_queries(8):
        client.get(URL, {"month": "2027-02"})


def test_csv_export_has_the_numbers_and_is_audited(client, users, february):
    response = get(client, users["viewer"], month="2027-02", format="csv")
    assert response.status_code == 200 and response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="uptime-2027-02.csv"'
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    api = next(r for r in rows if r["component"] == "API")
    assert api["major_outage_seconds"] == "3600" and api["maintenance_seconds"] == "3600"
    assert float(api["uptime_percent"]) == pytest.approx(100 * (1 - 3600 / (28 * 86400 - 3600)), abs=1e-4)
    event = AuditEvent.objects.get(action="status.uptime.exported")
    assert event.data == {"month": "2027-02", "components": 2, "complete": True}


def test_the_current_month_counts_so_far_and_the_outage_across_the_month_end(client, users, february):
    html = get(client, users["viewer"]).content.decode()  # March, by default
    assert "The month is still running" in html
    # 1 h of major outage on 1 March, of 9 d 12 h so far.
    assert f"<strong>{int(100 * (1 - 1 / (9 * 24 + 12)) * 100) / 100:.2f}%</strong>" in html


def test_a_bad_month_names_the_rule_and_shows_this_month(client, users, february):
    response = get(client, users["viewer"], month="2027-13")
    assert response.status_code == 200
    assert "“2027-13” is not a month up to this one (write YYYY-MM" in response.content.decode()


def test_without_the_view_permission_it_is_refused(client, february):
    staff = get_user_model().objects.create_user("nobody", password="x" * 20, is_staff=True)
    assert get(client, staff, month="2027-02").status_code == 403
    assert get(client, staff, month="2027-02", format="csv").status_code == 403
    assert not AuditEvent.objects.filter(action="status.uptime.exported").exists()


def test_month_boundaries_follow_the_page_zone(settings, february):
    """In Los Angeles the outage 28 Feb 23:00 UTC (15:00 PST) is wholly February's."""
    from ersen_ops.status.uptime.selectors import month_report

    settings.OPS_STATUS_PAGE_TIME_ZONE = "America/Los_Angeles"
    uptime.uptime_rollup(now=NOW, days=[date(2027, 2, 1) + timedelta(days=n) for n in range(28)] + [date(2027, 3, 1)])
    report = month_report(2027, 2, now=NOW)
    api = next(r for r in report.rows if r.name == "API")
    assert api.seconds["major"] == 7200

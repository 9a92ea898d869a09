"""The public uptime history: 90 day-bars per component on the page and in /api/uptime.json, at a constant
number of queries however long the history; days in the page's zone."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from ersen_ops.status.models import StatusInterval
from ersen_ops.status.uptime import services as uptime
from incidents.models import Incident, IncidentComponent, IncidentUpdate
from tests.factories import ComponentFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2027, 3, 20, 15, 0, tzinfo=UTC)  # Saturday; page zone UTC (the status tests' setting)


def interval(component, status, start, end=None, in_maintenance=False):
    return StatusInterval.objects.create(
        component=component, status=status, started_at=start, ended_at=end, in_maintenance=in_maintenance
    )


def history(component, *, days: int, outage_day_offset: int | None = None):
    """Operational for `days` days up to now; optionally a 2-hour major outage `outage_day_offset` days ago."""
    start = NOW - timedelta(days=days)
    if outage_day_offset is None:
        interval(component, "operational", start)
        return
    began = datetime.combine((NOW - timedelta(days=outage_day_offset)).date(), datetime.min.time(), tzinfo=UTC)
    began += timedelta(hours=10)
    interval(component, "operational", start, began)
    interval(component, "major_outage", began, began + timedelta(hours=2))
    interval(component, "operational", began + timedelta(hours=2))


def public_incident(component, *, title, opened, resolved=None):
    incident = Incident.objects.create(
        title=title,
        level="P2",
        status="resolved" if resolved else "investigating",
        opened_at=opened,
        resolved_at=resolved,
        response_due_at=opened,
    )
    IncidentComponent.objects.create(incident=incident, component=component, impact="major_outage")
    IncidentUpdate.objects.create(
        incident=incident, status="investigating", body="Looking", public=True, created_at=opened
    )
    return incident


def page(client) -> str:
    with time_machine.travel(NOW, tick=False):
        response = client.get("/")
    assert response.status_code == 200
    return response.content.decode()


def bars_of(html: str, component_public_id: str) -> list[tuple[str, str]]:
    block = html[html.index(f'id="up-{component_public_id}"') :]
    block = block[: block.index("</ol>")]
    return re.findall(r'<li class="bar b-([a-z_]+)"><span class="tip">([^<]*)</span></li>', block)


def test_page_shows_90_bars_coloured_by_the_days_worst_status_with_words(client):
    api = ComponentFactory(name="API")
    history(api, days=40, outage_day_offset=3)
    public_incident(api, title="API errors", opened=NOW - timedelta(days=3, hours=4), resolved=NOW - timedelta(days=3))
    with time_machine.travel(NOW, tick=False):
        uptime.uptime_rollup(now=NOW)
    html = page(client)
    bars = bars_of(html, api.public_id)
    assert len(bars) == 90
    assert [css for css, _ in bars[:49]] == ["nodata"] * 49  # before history began (40 days ago, 15:00)
    assert bars[49][0] == "operational"
    assert bars[-1][0] == "operational" and "(today, so far)" in bars[-1][1]
    outage_css, outage_text = bars[-4]
    assert outage_css == "major_outage"
    assert outage_text.startswith("Wed 17 Mar 2027: 91.66% uptime — major outage 2 h.")  # 2 h of 24 h, truncated
    assert "Incidents: API errors." in outage_text
    # 30 and 90 days: the same seconds summed (90 days = the 40 recorded ones; no data counts neither way).
    assert "<strong>99.71%</strong> over 30 days" in html  # 1 − 2 h / (29 d 15 h) = 99.718…, truncated
    assert "<strong>99.79%</strong> over 90 days" in html  # 1 − 2 h / 40 d
    assert "1 day with downtime, maintenance or incidents" in html
    assert "<script>" not in html  # the page has no inline script (CSP: scripts from our static files only)


def test_maintenance_is_left_out_of_the_uptime_and_partial_counts_30_percent(client):
    db = ComponentFactory(name="Database")
    day = datetime(2027, 3, 19, tzinfo=UTC)
    interval(db, "operational", day - timedelta(days=1), day + timedelta(hours=2))
    interval(db, "under_maintenance", day + timedelta(hours=2), day + timedelta(hours=4), in_maintenance=True)
    interval(db, "partial_outage", day + timedelta(hours=4), day + timedelta(hours=6))
    interval(db, "operational", day + timedelta(hours=6))
    with time_machine.travel(NOW, tick=False):
        uptime.uptime_rollup(now=NOW)
    css, text = bars_of(page(client), db.public_id)[-2]
    # 0.3 × 2 h of 22 counted hours = 2.727 % down
    assert css == "partial_outage"
    assert text == "Fri 19 Mar 2027: 97.27% uptime — partial outage 2 h, maintenance 2 h. No incident reported."


def test_uptime_json_has_the_same_figures(client):
    api = ComponentFactory(name="API")
    history(api, days=10, outage_day_offset=1)
    public_incident(api, title="API errors", opened=NOW - timedelta(days=1, hours=4), resolved=NOW - timedelta(days=1))
    with time_machine.travel(NOW, tick=False):
        response = client.get("/api/uptime.json", HTTP_ORIGIN="https://example.org")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Access-Control-Allow-Origin"] == "*"
    doc = json.loads(response.content)
    assert doc["weighting"] == {
        "major_outage": 1.0,
        "partial_outage": 0.3,
        "degraded_performance": 0.0,
        "under_maintenance": "excluded",
        "no_data": "excluded",
    }
    (component,) = doc["components"]
    assert component["id"] == api.public_id and len(component["days"]) == 90
    yesterday = component["days"][-2]
    assert yesterday["date"] == "2027-03-19" and yesterday["status"] == "major_outage"
    assert yesterday["seconds"]["major"] == 7200 and yesterday["uptime"] == round(100 * (1 - 2 / 24), 4)
    assert [i["name"] for i in yesterday["incidents"]] == ["API errors"]
    assert component["days"][0] == {
        "date": "2026-12-21",
        "status": None,
        "uptime": None,
        "seconds": dict.fromkeys(("operational", "degraded", "partial", "major", "maintenance", "unknown"), 0),
        "incidents": [],
    }


def _queries(client, url) -> int:
    from statuspage import caching

    caching.documents.clear()
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def test_constant_queries_however_long_the_history_and_however_many_components(client, django_assert_num_queries):
    first = ComponentFactory(name="API")
    history(first, days=3)
    public_incident(first, title="Short outage", opened=NOW - timedelta(days=1, hours=3))
    short = {url: _queries(client, url) for url in ("/", "/api/uptime.json")}
    for n in range(8):
        c = ComponentFactory(name=f"Service {n}")
        history(c, days=400, outage_day_offset=n + 1)
        public_incident(c, title=f"Outage {n}", opened=NOW - timedelta(days=n + 1, hours=3))
    StatusInterval.objects.filter(component=first).delete()
    history(first, days=400, outage_day_offset=5)
    with time_machine.travel(NOW, tick=False):
        uptime.uptime_rollup(now=NOW)
    from statuspage import caching

    for url, count in short.items():
        caching.documents.clear()
        with time_machine.travel(NOW, tick=False), django_assert_num_queries(count):
            client.get(url)


def test_the_days_are_the_page_zones_across_midnight_and_dst(client, settings):
    """Page zone Los Angeles: at 23:30 PDT the last bar is that Pacific day; at 00:30 PDT the next one."""
    settings.OPS_STATUS_PAGE_TIME_ZONE = "America/Los_Angeles"
    api = ComponentFactory(name="API")
    interval(api, "operational", datetime(2027, 3, 1, tzinfo=UTC))
    from statuspage import caching

    before_midnight = datetime(2027, 3, 15, 6, 30, tzinfo=UTC)  # Sun 14 Mar 23:30 PDT (the 23-hour day)
    with time_machine.travel(before_midnight, tick=False):
        uptime.uptime_rollup(now=before_midnight)
        html = client.get("/").content.decode()
    last = bars_of(html, api.public_id)[-1][1]
    assert last.startswith("Sun 14 Mar 2027 (today, so far): 100% uptime")
    caching.documents.clear()
    after_midnight = before_midnight + timedelta(hours=1)
    with time_machine.travel(after_midnight, tick=False):
        uptime.uptime_rollup(now=after_midnight)
        html = client.get("/").content.decode()
    bars = bars_of(html, api.public_id)
    assert bars[-1][1].startswith("Mon 15 Mar 2027 (today, so far)")
    assert bars[-2][1].startswith("Sun 14 Mar 2027: 100% uptime")
    from ersen_ops.status.models import DailyUptime

    assert DailyUptime.objects.get(component=api, day=date(2027, 3, 14)).operational_seconds == 23 * 3600


def test_a_change_shows_in_todays_bar_at_once(client, django_capture_on_commit_callbacks):
    from ersen_ops.status.services import component_save, component_state

    api = ComponentFactory(name="API")
    interval(api, "operational", NOW - timedelta(days=2))
    assert bars_of(page(client), api.public_id)[-1][0] == "operational"
    with time_machine.travel(NOW, tick=False), django_capture_on_commit_callbacks(execute=True):
        before = component_state(api)
        api.status = "major_outage"
        component_save(actor="system:test", component=api, before=before)
    with time_machine.travel(NOW + timedelta(seconds=30), tick=False):
        html = client.get("/").content.decode()
    assert bars_of(html, api.public_id)[-1][0] == "major_outage"

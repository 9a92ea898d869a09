"""The incidents list: open incidents by default (one click to all), urgency colours from the time left,
component impact in words."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from incidents import services
from incidents.choices import Impact, Level
from tests.factories import ComponentFactory
from tests.incidents.factories import open_incident

pytestmark = pytest.mark.django_db
LIST_URL = reverse("admin:incidents_incident_changelist")


@pytest.fixture
def open_and_resolved(users):
    still_open = open_incident(level=Level.P2, title="Checkout slow", actor=users["commander"])
    done = open_incident(level=Level.P2, title="Login errors", actor=users["commander"], components={})
    services.incident_resolve(actor=users["commander"], incident=done, body="Fixed.")
    return still_open, done


def titles(html: str) -> list[str]:
    return re.findall(r'<td class="field-title_col"><a href="[^"]+">([^<]+)</a>', html)


def test_the_list_shows_open_incidents_by_default_and_links_to_all(client, users, open_and_resolved):
    client.force_login(users["viewer"])
    html = client.get(LIST_URL).content.decode()
    assert titles(html) == ["Checkout slow"]
    assert "<h1>Open incidents</h1>" in html
    assert 'id="show-all-incidents" href="?status=all"' in html


def test_one_click_shows_all_incidents_including_resolved(client, users, open_and_resolved):
    client.force_login(users["viewer"])
    html = client.get(LIST_URL, {"status": "all"}).content.decode()
    assert sorted(titles(html)) == ["Checkout slow", "Login errors"]
    assert "<h1>Incidents</h1>" in html and "show-all-incidents" not in html


def test_the_status_filter_still_selects_resolved_ones(client, users, open_and_resolved):
    client.force_login(users["viewer"])
    assert titles(client.get(LIST_URL, {"status": "resolved"}).content.decode()) == ["Login errors"]


def test_countdowns_are_coloured_by_time_left_not_by_level(client, users):
    now = timezone.now()
    p3 = open_incident(level=Level.P3, title="Export button", actor=users["commander"], now=now - timedelta(hours=1))
    p4 = open_incident(level=Level.P4, title="Typo", actor=users["commander"], components={})
    assert timedelta(hours=22) < p3.response_due_at - now < timedelta(hours=24)
    assert p4.response_due_at - now > timedelta(days=1)
    client.force_login(users["viewer"])
    html = client.get(LIST_URL).content.decode()
    row = {title: html[html.index(f">{title}</a>") :].split("</tr>")[0] for title in ("Export button", "Typo")}
    assert 'class="ops-countdown due-within-day"' in row["Export button"]
    assert 'class="ops-countdown due-later"' in row["Typo"]


def test_component_impact_is_written_out_not_only_a_coloured_dot(client, users):
    api, db = ComponentFactory(name="API"), ComponentFactory(name="Database")
    open_incident(actor=users["commander"], components={api: Impact.MAJOR_OUTAGE, db: Impact.DEGRADED_PERFORMANCE})
    client.force_login(users["viewer"])
    html = client.get(LIST_URL).content.decode()
    cell = html[html.index('<td class="field-components_col">') :].split("</td>")[0]
    assert re.search(r"API <span class=\"badge badge-major_outage\"[^>]*>Major outage</span>", cell)
    assert re.search(
        r"Database <span class=\"badge badge-degraded_performance\"[^>]*>Degraded performance</span>", cell
    )
    assert "●" not in cell

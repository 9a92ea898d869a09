"""The public status page and the incident/maintenance pages: readable without JavaScript, accessible, no login."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import time_machine
from django.conf import settings

from incidents.models import Incident, IncidentComponent, IncidentUpdate
from maintenance.models import MaintenanceWindow
from tests.status.factories import build_example, make_component, publish, utc

pytestmark = pytest.mark.django_db

NOW = utc(2026, 5, 4, 12, 0)  # two hours after the example's events


class Outline(HTMLParser):
    """Headings, links, <time> elements and the visible text of a page."""

    def __init__(self):
        super().__init__()
        self.headings, self.links, self.times, self.text = [], [], [], []
        self._stack = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._stack.append((tag, attrs))
        if tag == "a":
            self.links.append(attrs.get("href"))
        if tag == "time":
            self.times.append(attrs.get("datetime"))
        if tag in ("script", "style"):
            self._in_script = True

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._in_script = False
        while self._stack and self._stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        if self._in_script:
            return
        if self._stack and self._stack[-1][0] in ("h1", "h2", "h3"):
            self.headings.append((self._stack[-1][0], data.strip()))
        self.text.append(data)

    @property
    def visible(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.text))


def outline(content: bytes) -> Outline:
    parser = Outline()
    parser.feed(content.decode())
    return parser


@pytest.fixture
def world(db):
    rows = build_example()
    upcoming = MaintenanceWindow.objects.create(
        public_id="mnt_upcoming01",
        title="Search index rebuild",
        status="scheduled",
        planned_start=utc(2026, 5, 7, 9, 0),
        planned_end=utc(2026, 5, 7, 10, 0),
        eta=utc(2026, 5, 7, 10, 0),
        announced_at=utc(2026, 5, 4, 9, 0),
        announcement="## Scheduled Maintenance\n\n**Impact**: Search may return stale results.",
        impact="x",
        reason="y",
    )
    upcoming.components.set([rows["web"]])
    old = Incident.objects.create(
        public_id="inc_yesterday1",
        title="Login errors",
        level="P2",
        status="resolved",
        opened_at=utc(2026, 5, 3, 15, 0),
        resolved_at=utc(2026, 5, 3, 16, 0),
        response_due_at=utc(2026, 5, 3, 16, 0),
    )
    IncidentComponent.objects.create(incident=old, component=rows["web"], impact="major_outage")
    for status, body, at in (
        ("investigating", "Logins fail.", utc(2026, 5, 3, 15, 1)),
        ("resolved", "Fixed.", utc(2026, 5, 3, 16)),
    ):
        IncidentUpdate.objects.create(incident=old, status=status, body=body, created_at=at)
    ancient = Incident.objects.create(
        public_id="inc_ancient001",
        title="Ancient outage",
        level="P2",
        status="resolved",
        opened_at=utc(2026, 4, 1, 15, 0),
        resolved_at=utc(2026, 4, 1, 16, 0),
        response_due_at=utc(2026, 4, 1, 16, 0),
    )
    IncidentUpdate.objects.create(incident=ancient, status="resolved", body="Long ago.", created_at=utc(2026, 4, 1, 16))
    make_component(
        at=utc(2025, 1, 10),
        public_id="cmp_widget001",
        name="Embeddable widgets",
        only_show_if_degraded=True,
        position=9,
    )
    return rows


def get_page(client, url="/"):
    with time_machine.travel(NOW, tick=False):
        response = client.get(url)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    return response


def section(html: str, heading_id: str) -> str:
    start = html.index(f'id="{heading_id}"')
    end = html.find("<section", start)
    return html[start : end if end != -1 else len(html)]


def test_page_needs_no_login_and_is_the_same_at_status(client, world):
    root = get_page(client, "/")
    assert get_page(client, "/status/").content == root.content


def test_page_shows_everything_an_operator_expects_in_plain_html(client, world):
    html = get_page(client).content.decode()
    page = outline(html.encode())
    assert ("h1", "Partially Degraded Service") in page.headings  # overall status, in words
    assert [h for h in page.headings if h[0] == "h1"] == [("h1", "Partially Degraded Service")]  # one h1
    # Components with their status in words (not colour alone).
    components = section(html, "components-heading")
    for name, word in (("API", "Degraded performance"), ("Database", "Under maintenance"), ("Website", "Operational")):
        assert re.search(rf"{name}.*?{word}", components, re.S), name
    # Active incident with its public timeline.
    incidents = section(html, "active-incidents")
    assert "Elevated API latency" in incidents and "We are investigating elevated latency on the API." in incidents
    # Maintenance in progress, and the upcoming one before it starts, with its announcement.
    assert "Database minor-version upgrade" in section(html, "maintenance-now")
    upcoming = section(html, "upcoming-heading")
    assert "Search index rebuild" in upcoming and "Search may return stale results." in upcoming
    # The last 14 days: yesterday's incident on its day, the April one not at all.
    history = section(html, "history-heading")
    assert "Sunday, May 3, 2026" in history and "Login errors" in history
    assert history.count('class="day"') == 14
    assert "Ancient outage" not in html
    # Feeds and calendar.
    for link in ("/history.atom", "/history.rss", "/maintenance.ics", "/api/v2/summary.json"):
        assert link in page.links
    assert '<html lang="en">' in html


def test_times_are_machine_readable_with_pacific_beside_and_readable_without_javascript(client, world):
    html = get_page(client).content.decode()
    assert (
        '<time datetime="2026-05-04T10:02:00.000Z" data-local>Mon 4 May 2026, 10:02 UTC</time> '
        '<span class="pacific" data-zone="America/Los_Angeles">(Mon 03:02 PDT)</span>'
    ) in html
    # The script only rewrites <time> text to the viewer's zone; everything is in the HTML without it.
    assert '<script src="/static/status/local-times.js" defer></script>' in html
    script = (Path(settings.BASE_DIR) / "statuspage/static/status/local-times.js").read_text()
    assert "time[data-local]" in script and "Intl.DateTimeFormat" in script
    assert "fetch(" not in script and "XMLHttpRequest" not in script
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", t) for t in outline(html.encode()).times)


def test_components_shown_only_if_degraded_appear_when_degraded(client, world):
    assert "Embeddable widgets" not in get_page(client).content.decode()
    from ersen_ops.status.models import Component

    widget = Component.objects.get(public_id="cmp_widget001")
    widget.status = "partial_outage"
    widget.save()
    assert "Embeddable widgets" in section(get_page(client).content.decode(), "components-heading")


def test_incident_page_shows_the_whole_public_timeline(client, world):
    IncidentUpdate.objects.create(
        incident=world["incident"],
        status="identified",
        body="Internal: it was Bob's deploy",
        public=False,
        created_at=utc(2026, 5, 4, 10, 5),
    )
    IncidentUpdate.objects.create(
        incident=world["incident"], status="identified", body="We found the cause.", created_at=utc(2026, 5, 4, 10, 10)
    )
    html = get_page(client, "/incidents/inc_0000001").content.decode()
    page = outline(html.encode())
    assert ("h1", "Elevated API latency") in page.headings
    assert html.index("We found the cause.") < html.index("We are investigating elevated latency on the API.")
    assert "Bob" not in html
    assert "<title>Elevated API latency — Example Ops Portal status</title>" in html


def test_maintenance_page_shows_the_window_and_its_announcements(client, world):
    publish(
        world["window"],
        event="maintenance.eta_changed",
        body="**Estimated completion**: 11:30",
        at=utc(2026, 5, 4, 10, 40),
    )
    html = get_page(client, "/incidents/mnt_0000001").content.decode()
    assert "Scheduled maintenance" in html and "In progress" in html
    assert "<strong>Estimated completion</strong>: 11:30" in html
    assert "/maintenance.ics" in html


def test_update_text_on_the_page_is_sanitised_markdown_with_headings_as_bold_lines(client, world):
    publish(
        world["window"],
        event="maintenance.eta_changed",
        body="## Heading\n\n**When**: <script>alert(1)</script>\n[x](javascript:alert(1)) [docs](https://docs.example/)",
        at=utc(2026, 5, 4, 10, 41),
    )
    html = get_page(client, "/incidents/mnt_0000001").content.decode()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert '<strong class="heading">Heading</strong>' in html
    assert "<strong>When</strong>" in html
    assert "javascript:" not in html
    assert '<a href="https://docs.example/" rel="noopener noreferrer nofollow">docs</a>' in html


def test_page_history_lists_a_cancelled_future_window_on_the_day_it_was_cancelled(client, world):
    cancelled = MaintenanceWindow.objects.create(
        public_id="mnt_cancelled1",
        title="Postponed migration",
        status="cancelled",
        planned_start=utc(2026, 5, 20, 9),
        planned_end=utc(2026, 5, 20, 10),
        announced_at=utc(2026, 5, 1, 9),
        announcement="Planned.",
        cancellation_reason="Postponed.",
        impact="x",
        reason="y",
    )
    publish(cancelled, event="maintenance.cancelled", body="Cancelled.", at=utc(2026, 5, 2, 9))
    history = section(get_page(client).content.decode(), "history-heading")
    day = history[history.index("Saturday, May 2, 2026") :]
    assert "Postponed migration" in day[: day.index('class="day"')]
    assert "Cancelled" in day[: day.index('class="day"')]

"""The real services end to end: a window's whole life and an incident's, as the API, page, feeds and calendar show it.

Status-page posts are produced by the notifications app's own sending code (`delivery_send`), as the
worker would; the clock of each post is the moment of the event.
"""

from __future__ import annotations

import json
from datetime import timedelta

import feedparser
import pytest
import time_machine
from icalendar import Calendar

from ersen_ops.core.choices import Phase
from ersen_ops.core.services import site_settings_set_phase
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.sending import delivery_send
from incidents import services as incident_services
from maintenance import services
from maintenance.choices import ChecklistPhase, ItemKey
from tests.factories import ComponentFactory
from tests.maintenance.conftest import approve_phase
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory

pytestmark = pytest.mark.django_db

THU_0200 = JAN_TUE_0200 + timedelta(days=2)  # Thursday 14 January 2027, 02:00 PST


def send_posts(at):
    """What the worker does after commit: send the queued status-page deliveries (at `at`)."""
    with time_machine.travel(at, tick=False):
        for pk in (
            NotificationDelivery.objects.filter(channel="status_page", status="queued")
            .order_by("id")
            .values_list("pk", flat=True)
        ):
            delivery_send(delivery_id=pk)


def get_json(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return json.loads(response.content)


def calendar_events(client):
    response = client.get("/maintenance.ics")
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    return {str(e["uid"]): e for e in Calendar.from_ical(response.content).walk("VEVENT")}


@pytest.fixture
def people(users):
    site_settings_set_phase(actor="system:test", phase=Phase.POSTLAUNCH)
    return users


@pytest.fixture
def database(db):
    return ComponentFactory(name="Database", position=1)


def test_a_window_from_announcement_to_verification(client, people, database):
    operator, approvers = people["operator"], [people["approver"], people["admin"]]
    window = MaintenanceWindowFactory(
        title="Database upgrade", owner=operator, on_call_engineer=people["approver"], components=[database]
    )
    uid = f"{window.public_id}@127.0.0.1"
    assert get_json(client, "/api/v2/scheduled-maintenances.json")["scheduled_maintenances"] == []  # a draft
    assert uid not in calendar_events(client)

    # Scheduled: upcoming, with its announcement as the first update; on the calendar at SEQUENCE 0.
    announced = JAN_TUE_0200 - timedelta(days=3)
    services.window_schedule(actor=operator, window=window, now=announced)
    send_posts(announced + timedelta(seconds=2))
    upcoming = get_json(client, "/api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert [m["id"] for m in upcoming] == [window.public_id]
    (announcement,) = upcoming[0]["incident_updates"]
    assert announcement["status"] == "scheduled" and "## Scheduled Maintenance" in announcement["body"]
    assert "**When**: Tuesday, January 12, 2027 02:00-03:00 PST" in announcement["body"]
    assert upcoming[0]["scheduled_for"] == "2027-01-12T10:00:00.000Z"
    event = calendar_events(client)[uid]
    assert event["sequence"] == 0 and str(event["status"]) == "CONFIRMED"
    assert event.decoded("dtstart").isoformat() == "2027-01-12T10:00:00+00:00"
    assert "Database upgrade" in str(event["summary"]) and "Scheduled Maintenance" in str(event["description"])
    with time_machine.travel(announced + timedelta(hours=1), tick=False):
        page = client.get("/").content.decode()
    upcoming_section = page[page.index('id="upcoming-heading"') : page.index('id="history-heading"')]
    assert "Database upgrade" in upcoming_section

    # Rescheduled to Thursday: a new update, the calendar follows (SEQUENCE 1, new DTSTART).
    moved = JAN_TUE_0200 - timedelta(days=2)
    services.window_update(
        actor=operator, window=window, planned_start=THU_0200, planned_end=THU_0200 + timedelta(hours=1), now=moved
    )
    send_posts(moved + timedelta(seconds=2))
    (m,) = get_json(client, "/api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"]
    assert [u["status"] for u in m["incident_updates"]] == ["scheduled", "scheduled"]
    assert m["incident_updates"][1]["id"] == announcement["id"]  # the announcement keeps its id
    assert m["scheduled_for"] == "2027-01-14T10:00:00.000Z"
    event = calendar_events(client)[uid]
    assert event["sequence"] == 1 and event.decoded("dtstart").isoformat() == "2027-01-14T10:00:00+00:00"

    # In progress: the component is under maintenance, the page says so.
    approve_phase(window, ChecklistPhase.BEFORE, approvers, now=THU_0200 - timedelta(hours=1))
    services.window_start(actor=operator, window=window, now=THU_0200)
    send_posts(THU_0200 + timedelta(seconds=2))
    summary = get_json(client, "/api/v2/summary.json")
    assert summary["status"] == {"indicator": "maintenance", "description": "Service Under Maintenance"}
    assert summary["components"][0]["status"] == "under_maintenance"
    (active,) = get_json(client, "/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert active["status"] == "in_progress"
    assert active["incident_updates"][0]["affected_components"][0]["new_status"] == "under_maintenance"
    assert calendar_events(client)[uid]["sequence"] == 2

    # Running long: the ETA update is published, scheduled_until and the calendar's DTEND move.
    eta_at = THU_0200 + timedelta(minutes=50)
    services.window_update_eta(
        actor=operator,
        window=window,
        new_eta=THU_0200 + timedelta(minutes=90),
        reason="Reindexing takes longer",
        now=eta_at,
    )
    send_posts(eta_at + timedelta(seconds=2))
    (active,) = get_json(client, "/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"]
    assert active["scheduled_until"] == "2027-01-14T11:30:00.000Z"
    assert "Reindexing takes longer" in active["incident_updates"][0]["body"]
    event = calendar_events(client)[uid]
    assert event["sequence"] == 3 and event.decoded("dtend").isoformat() == "2027-01-14T11:30:00+00:00"

    # Completed, the "after" checklist still open: completed publicly (the checklist is internal follow-up).
    approve_phase(
        window, ChecklistPhase.DURING, approvers, now=THU_0200 + timedelta(minutes=60), skip_keys=[ItemKey.UPDATE_ETA]
    )
    done_at = THU_0200 + timedelta(minutes=70)
    services.window_complete(actor=operator, window=window, now=done_at)
    send_posts(done_at + timedelta(seconds=2))
    summary = get_json(client, "/api/v2/summary.json")
    assert summary["components"][0]["status"] == "operational"
    assert summary["status"]["indicator"] == "none"
    assert get_json(client, "/api/v2/scheduled-maintenances/active.json")["scheduled_maintenances"] == []
    assert summary["scheduled_maintenances"] == []
    (done,) = get_json(client, "/api/v2/scheduled-maintenances.json")["scheduled_maintenances"]
    assert done["status"] == "completed" and done["resolved_at"] == "2027-01-14T11:10:00.000Z"
    assert [u["status"] for u in done["incident_updates"]] == [
        "completed",
        "in_progress",
        "in_progress",
        "scheduled",
        "scheduled",
    ]

    # The feeds: one entry per published event, newest first, stable ids; the internal summary is not one.
    atom = feedparser.parse(client.get("/history.atom").content)
    assert not atom.bozo, atom.bozo_exception
    titles = [e.title for e in atom.entries]
    assert titles == [
        f"Maintenance: Database upgrade — {label}"
        for label in ("Completed", "New estimated completion", "In progress", "Rescheduled", "Scheduled")
    ]
    assert [e.id for e in feedparser.parse(client.get("/history.atom").content).entries] == [e.id for e in atom.entries]
    rss = feedparser.parse(client.get("/history.rss").content)
    assert not rss.bozo and [e.id for e in rss.entries] == [e.id for e in atom.entries]
    assert all("team-ops" not in e.summary.lower() for e in atom.entries)


def test_cancelled_window_leaves_upcoming_and_is_cancelled_on_the_calendar(client, people, database):
    operator = people["operator"]
    window = MaintenanceWindowFactory(title="Kernel patch", owner=operator, components=[database])
    services.window_schedule(actor=operator, window=window, now=JAN_TUE_0200 - timedelta(days=3))
    send_posts(JAN_TUE_0200 - timedelta(days=3))
    uid = f"{window.public_id}@127.0.0.1"
    assert calendar_events(client)[uid]["sequence"] == 0
    cancelled_at = JAN_TUE_0200 - timedelta(days=1)
    services.window_cancel(actor=operator, window=window, reason="Vendor fix slipped a week", now=cancelled_at)
    send_posts(cancelled_at)
    assert get_json(client, "/api/v2/scheduled-maintenances/upcoming.json")["scheduled_maintenances"] == []
    assert get_json(client, "/api/v2/summary.json")["scheduled_maintenances"] == []
    (m,) = get_json(client, "/api/v2/scheduled-maintenances.json")["scheduled_maintenances"]
    assert m["status"] == "completed" and "Vendor fix slipped a week" in m["incident_updates"][0]["body"]
    event = calendar_events(client)[uid]
    assert str(event["status"]) == "CANCELLED" and event["sequence"] == 1
    assert "Vendor fix slipped a week" in str(event["description"])
    titles = [e.title for e in feedparser.parse(client.get("/history.atom").content).entries]
    assert titles == ["Maintenance: Kernel patch — Cancelled", "Maintenance: Kernel patch — Scheduled"]
    page = client.get(f"/incidents/{window.public_id}").content.decode()
    assert '<span class="tag">Cancelled</span>' in page and "<h3>Cancelled</h3>" in page


def test_draft_then_cancelled_window_never_appears(client, people, database):
    window = MaintenanceWindowFactory(title="Half-baked idea", owner=people["operator"], components=[database])
    services.window_cancel(
        actor=people["operator"], window=window, reason="Not needed", now=JAN_TUE_0200 - timedelta(days=5)
    )
    for url in ("/api/v2/scheduled-maintenances.json", "/history.atom", "/maintenance.ics", "/"):
        assert b"Half-baked idea" not in client.get(url).content
    assert client.get(f"/incidents/{window.public_id}").status_code == 404


def test_an_incident_from_open_to_resolved(client, people, database):
    commander = people["commander"]
    now = JAN_TUE_0200
    incident = incident_services.incident_open(
        actor=commander,
        title="Database connections exhausted",
        level="P2",
        components={database: "partial_outage"},
        message="We are investigating failed requests.",
        internal_notes="Pool at 100%; suspect the batch job.",
        now=now,
    )
    incident_services.incident_post_update(
        actor=commander,
        incident=incident,
        status="identified",
        body="Batch job kill -9'd",
        public=False,
        now=now + timedelta(minutes=5),
    )
    incident_services.incident_post_update(
        actor=commander,
        incident=incident,
        status="monitoring",
        body="A fix is deployed; watching.",
        now=now + timedelta(minutes=10),
    )
    summary = get_json(client, "/api/v2/summary.json")
    (listed,) = summary["incidents"]
    assert listed["id"] == incident.public_id and listed["status"] == "monitoring"
    assert listed["monitoring_at"] == "2027-01-12T10:10:00.000Z"
    assert [u["body"] for u in listed["incident_updates"]] == [
        "A fix is deployed; watching.",
        "We are investigating failed requests.",
    ]
    assert listed["impact"] == "major"
    assert summary["components"][0]["status"] == "partial_outage"
    page = client.get(f"/incidents/{incident.public_id}").content.decode()
    assert "A fix is deployed; watching." in page and "Batch job" not in page

    incident_services.incident_resolve(
        actor=commander, incident=incident, body="Fixed for good.", now=now + timedelta(hours=1)
    )
    assert get_json(client, "/api/v2/incidents/unresolved.json")["incidents"] == []
    (resolved,) = get_json(client, "/api/v2/incidents.json")["incidents"]
    assert resolved["status"] == "resolved" and resolved["resolved_at"] == "2027-01-12T11:00:00.000Z"
    assert resolved["incident_updates"][0]["affected_components"][0] == {
        "code": database.public_id,
        "name": "Database",
        "old_status": "partial_outage",
        "new_status": "operational",
    }
    assert get_json(client, "/api/v2/summary.json")["components"][0]["status"] == "operational"
    entries = feedparser.parse(client.get("/history.atom").content).entries
    assert [e.title for e in entries] == [
        "Incident: Database connections exhausted — Resolved",
        "Incident: Database connections exhausted — Monitoring",
        "Incident: Database connections exhausted — Investigating",
    ]


def test_feeds_hold_the_last_50_updates_newest_first(client, people, database):
    incident = incident_services.incident_open(
        actor=people["commander"], title="Flapping", level="P3", message="Update 0", now=JAN_TUE_0200
    )
    for n in range(1, 60):
        incident_services.incident_post_update(
            actor=people["commander"],
            incident=incident,
            status="investigating",
            body=f"Update {n}",
            now=JAN_TUE_0200 + timedelta(minutes=n),
        )
    for url in ("/history.atom", "/history.rss"):
        feed = feedparser.parse(client.get(url).content)
        assert not feed.bozo
        assert len(feed.entries) == 50
        assert feed.entries[0].summary == "<p>Update 59</p>" and feed.entries[-1].summary == "<p>Update 10</p>"
        assert len({e.id for e in feed.entries}) == 50

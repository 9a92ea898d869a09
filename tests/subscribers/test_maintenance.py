"""Maintenance reaches subscribers: scheduled, rescheduled (old and new times), reminder, started, completed,
cancelled — each email with the window as an .ics event carrying the calendar feed's UID and SEQUENCE."""

from __future__ import annotations

from datetime import timedelta

import pytest
from icalendar import Calendar

from ersen_ops.audit.models import AuditEvent
from maintenance import services
from maintenance.choices import ChecklistPhase, ItemKey
from subscribers.choices import NoticeKind
from subscribers.models import Notice
from tests.factories import ComponentFactory
from tests.maintenance.conftest import approve_phase
from tests.maintenance.factories import JAN_TUE_0200, MaintenanceWindowFactory
from tests.subscribers.conftest import calendar_of, html, link, plain, subject
from tests.subscribers.factories import SubscriberFactory

pytestmark = pytest.mark.django_db

THU_0200 = JAN_TUE_0200 + timedelta(days=2)


@pytest.fixture
def database(db):
    return ComponentFactory(name="Database", position=1)


@pytest.fixture
def window(users, postlaunch, database):
    return MaintenanceWindowFactory(
        title="Database upgrade", owner=users["operator"], on_call_engineer=users["approver"], components=[database]
    )


def subscriber_mail(smtp):
    """What subscribers received (scheduling also emails the on-call engineer a request to confirm: not theirs)."""
    return [m for m in smtp.messages() if m["X-Ersen-Event"] != "maintenance.on_call_requested"]


def feed_event(client, uid):
    events = {str(e["uid"]): e for e in Calendar.from_ical(client.get("/maintenance.ics").content).walk("VEVENT")}
    return events[uid]


def only_event(message):
    cal, part = calendar_of(message)
    assert cal is not None, "no .ics attached"
    assert part.get_content_type() == "text/calendar" and part.get_param("method") == "PUBLISH"
    (event,) = cal.walk("VEVENT")
    return event


def test_a_reschedule_sends_old_and_new_times_with_an_ics_whose_sequence_increased(
    client, smtp, pipeline, users, window
):
    SubscriberFactory(email="calendar@example.com")
    uid = f"{window.public_id}@testserver"

    with pipeline():
        services.window_schedule(actor=users["operator"], window=window, now=JAN_TUE_0200 - timedelta(days=3))
    (scheduled,) = subscriber_mail(smtp)
    assert subject(scheduled).startswith("[Ersen status] Scheduled maintenance: Database upgrade")
    first = only_event(scheduled)
    assert str(first["uid"]) == uid and first["sequence"] == 0
    assert first.decoded("dtstart").isoformat() == "2027-01-12T10:00:00+00:00"
    assert feed_event(client, uid)["sequence"] == 0  # the same numbering as /maintenance.ics
    text = plain(scheduled)
    assert "When: Tuesday, January 12, 2027 02:00-03:00 PST (2027-01-12 10:00–11:00 UTC)" in text
    assert "Affected: Database" in text

    smtp.clear()
    with pipeline():
        services.window_update(
            actor=users["operator"],
            window=window,
            planned_start=THU_0200,
            planned_end=THU_0200 + timedelta(hours=1),
            now=JAN_TUE_0200 - timedelta(days=2),
        )
    (moved,) = subscriber_mail(smtp)
    assert subject(moved).startswith("[Ersen status] Maintenance rescheduled: Database upgrade")
    text = plain(moved)
    assert "Was: Tuesday, January 12, 2027 02:00-03:00 PST (2027-01-12 10:00–11:00 UTC)" in text
    assert "Now: Thursday, January 14, 2027 02:00-03:00 PST (2027-01-14 10:00–11:00 UTC)" in text
    assert "<s>Tuesday, January 12, 2027 02:00-03:00 PST</s>" in html(moved)
    second = only_event(moved)
    assert str(second["uid"]) == uid
    assert second["sequence"] == 1 > first["sequence"]
    assert second.decoded("dtstart").isoformat() == "2027-01-14T10:00:00+00:00"
    assert second["sequence"] == feed_event(client, uid)["sequence"]
    # Same thread as the announcement in a mail client.
    assert moved["References"] == scheduled["References"] == f"<{window.public_id}@testserver>"
    notice = Notice.objects.get(kind=NoticeKind.MAINTENANCE_RESCHEDULED)
    assert notice.ics_sequence == 1 and notice.details["was"]["utc"] == "2027-01-12 10:00–11:00 UTC"
    assert AuditEvent.objects.filter(action="subscribers.notice.created", target_id=str(notice.pk)).exists()

    # Cancelled: the event says so, at the next SEQUENCE.
    smtp.clear()
    with pipeline():
        services.window_cancel(
            actor=users["operator"], window=window, reason="Vendor fix released", now=JAN_TUE_0200 - timedelta(days=1)
        )
    (cancelled,) = subscriber_mail(smtp)
    event = only_event(cancelled)
    assert str(event["status"]) == "CANCELLED" and event["sequence"] == 2 == feed_event(client, uid)["sequence"]
    assert "Was planned for: Thursday, January 14, 2027 02:00-03:00 PST" in plain(cancelled)
    assert "Vendor fix released" in plain(cancelled)


def test_every_public_maintenance_event_reaches_subscribers(settings, smtp, pipeline, users, window):
    settings.OPS_MAINTENANCE_REMINDER_MINUTES = 60
    SubscriberFactory(email="all@example.com")
    approvers = [users["approver"], users["admin"]]
    with pipeline():
        services.window_schedule(actor=users["operator"], window=window, now=JAN_TUE_0200 - timedelta(days=3))
    with pipeline():
        services.windows_send_reminders(now=JAN_TUE_0200 - timedelta(minutes=30))
    approve_phase(window, ChecklistPhase.BEFORE, approvers, now=JAN_TUE_0200 - timedelta(minutes=10))
    with pipeline():
        services.window_start(actor=users["operator"], window=window, now=JAN_TUE_0200)
    approve_phase(
        window,
        ChecklistPhase.DURING,
        approvers,
        now=JAN_TUE_0200 + timedelta(minutes=40),
        skip_keys=[ItemKey.UPDATE_ETA],
    )
    with pipeline():
        services.window_complete(actor=users["operator"], window=window, now=JAN_TUE_0200 + timedelta(minutes=50))
    kinds = list(Notice.objects.order_by("created_at", "id").values_list("kind", flat=True))
    assert kinds == [
        NoticeKind.MAINTENANCE_SCHEDULED,
        NoticeKind.MAINTENANCE_REMINDER,
        NoticeKind.MAINTENANCE_STARTED,
        NoticeKind.MAINTENANCE_COMPLETED,
    ]
    subjects = [subject(m) for m in subscriber_mail(smtp)]
    assert len(subjects) == 4
    assert subjects[1].startswith("[Ersen status] Reminder: maintenance starts")
    assert subjects[2] == "[Ersen status] Maintenance in progress: Database upgrade"
    assert subjects[3] == "[Ersen status] Maintenance complete: Database upgrade"
    for message in subscriber_mail(smtp):
        assert only_event(message)["uid"] == f"{window.public_id}@testserver"
        link(plain(message), "unsubscribe")
        assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"

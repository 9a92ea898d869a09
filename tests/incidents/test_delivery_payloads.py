"""What actually leaves Ersen Ops for an incident, through the real sending path (notify → after commit →
django-q task → channel → a local HTTP server playing the pager)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.status.models import StatusPost
from incidents import selectors, services
from incidents.choices import Impact, IncidentStatus, Level
from tests.factories import ComponentFactory
from tests.incidents.factories import CommanderFactory, open_incident

PAGER_PATH = "/v2/enqueue"
ROUTING_KEY = "incident-test-routing-key-0123456789"
ACCEPTED = {"status": "success", "message": "Event processed"}


@pytest.fixture
def pager(settings, httpserver, monkeypatch):
    from django_q.conf import Conf

    monkeypatch.setattr(Conf, "SYNC", True)  # django-q runs the sending task inline
    settings.PAGER_WEBHOOK_URL = httpserver.url_for(PAGER_PATH)
    settings.PAGER_ROUTING_KEY = ROUTING_KEY
    settings.SLACK_WEBHOOK_URL = ""  # not configured: recorded as skipped, never an error
    settings.SLACK_TEAM_OPS_WEBHOOK_URL = ""
    settings.OPS_STATUS_PAGE_NAME = "Ersen"
    settings.OPS_STATUS_PAGE_URL = "https://status.ersen.xyz"
    settings.OPS_NOTIFY_CONNECT_TIMEOUT = 2
    settings.OPS_NOTIFY_READ_TIMEOUT = 5
    return httpserver


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """Run a service, keep what it queued after commit, and run it when asked (the task sends)."""

    class Pending:
        def __init__(self):
            self.callbacks = []

        def __call__(self, fn, *args, **kwargs):
            with django_capture_on_commit_callbacks(execute=False) as captured:
                result = fn(*args, **kwargs)
            self.callbacks.extend(captured)
            return result

        def run(self):
            callbacks, self.callbacks = self.callbacks, []
            for callback in callbacks:
                callback()

    return Pending()


@pytest.mark.django_db
def test_exact_pager_payloads_for_trigger_acknowledge_and_resolve(pager, committed, t0):
    alice = CommanderFactory(username="alice")
    login = ComponentFactory(name="Login")
    incident = committed(
        open_incident, level=Level.P1, title="Login down", now=t0, components={login: Impact.MAJOR_OUTAGE},
        actor=CommanderFactory(username="bob"),
    )
    dedup = f"ersen-incident-{incident.public_id}"
    pager.expect_ordered_request(
        PAGER_PATH,
        method="POST",
        json={
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": "[P1] Incident opened: Login down",
                "severity": "critical",
                "source": "ersen-ops",
                "custom_details": {
                    "event": "incident.paged",
                    "details": (
                        "P1 incident opened by bob: Login down\n\n"
                        "Level: P1 — Service down, data loss risk (respond within 15 min; Immediate page)\n"
                        "Status: Investigating\n"
                        "Affected: Login (major outage)\n"
                        "Response due: Tue 2026-03-10 05:15 PDT (2026-03-10 12:15 UTC)\n"
                        "Commander: nobody yet\n"
                        f"Reference: {incident.public_id}"
                    ),
                },
            },
            "client": "Ersen Ops",
            "client_url": "https://status.ersen.xyz",
        },
    ).respond_with_json(ACCEPTED, status=202)
    pager.expect_ordered_request(
        PAGER_PATH, method="POST", json={"routing_key": ROUTING_KEY, "event_action": "acknowledge", "dedup_key": dedup}
    ).respond_with_json(ACCEPTED, status=202)
    pager.expect_ordered_request(
        PAGER_PATH, method="POST", json={"routing_key": ROUTING_KEY, "event_action": "resolve", "dedup_key": dedup}
    ).respond_with_json(ACCEPTED, status=202)

    committed.run()
    committed(services.incident_acknowledge, actor=alice, incident=incident, now=t0 + timedelta(minutes=4))
    committed.run()
    committed(services.incident_resolve, actor=alice, incident=incident, body="Sessions work again.", now=t0 + timedelta(minutes=40))
    committed.run()

    pager.check_assertions()
    assert len(pager.log) == 3
    pages = selectors.deliveries_for(incident).filter(channel=Channel.PAGER)
    assert [(d.pager_action, d.status, d.response) for d in pages] == [
        ("trigger", DeliveryStatus.SENT, "HTTP 202 ACCEPTED"),
        ("acknowledge", DeliveryStatus.SENT, "HTTP 202 ACCEPTED"),
        ("resolve", DeliveryStatus.SENT, "HTTP 202 ACCEPTED"),
    ]
    # Slack is not configured here: its deliveries are recorded as skipped, with the reason.
    slack = selectors.deliveries_for(incident).filter(channel=Channel.SLACK)
    assert {d.status for d in slack} == {DeliveryStatus.SKIPPED}


@pytest.mark.django_db
def test_internal_notes_and_internal_updates_never_leave_the_admin(pager, committed, t0):
    secret_note = "NOTE-db01-root-password-rotated-SECRET"
    secret_update = "INTERNAL-rolling-back-build-4711"
    pager.expect_request(PAGER_PATH, method="POST").respond_with_json(ACCEPTED, status=202)
    alice = CommanderFactory(username="alice", email="alice@ersen.xyz")
    incident = committed(
        open_incident, level=Level.P1, title="Payments failing", now=t0, internal_notes=secret_note, commander=alice,
        message="We are investigating failed payments.",
    )
    committed(services.incident_post_update, actor=alice, incident=incident, status=IncidentStatus.IDENTIFIED, body=secret_update, public=False, now=t0 + timedelta(minutes=2))
    committed(services.incident_edit, actor=alice, incident=incident, internal_notes=secret_note + " and more")
    committed(services.incidents_check_sla, now=t0 + timedelta(minutes=16))  # breach + escalation
    committed(services.incident_change_level, actor=alice, incident=incident, level=Level.P2, reason="Only EU cards", now=t0 + timedelta(minutes=17))
    committed(services.incident_acknowledge, actor=alice, incident=incident, now=t0 + timedelta(minutes=18))
    committed(services.incident_post_update, actor=alice, incident=incident, status=IncidentStatus.MONITORING, body="A fix is deployed; we are watching.", public=True, now=t0 + timedelta(minutes=30))
    committed(services.incident_resolve, actor=alice, incident=incident, body="Payments work again.", now=t0 + timedelta(minutes=45))
    committed.run()

    deliveries = list(selectors.deliveries_for(incident))
    assert {d.channel for d in deliveries} >= {Channel.PAGER, Channel.SLACK, Channel.EMAIL, Channel.STATUS_PAGE}
    for d in deliveries:
        for text in (d.subject, d.body, d.message, d.message_html):
            assert secret_note not in text and secret_update not in text, (d.channel, d.event)
    posts = list(StatusPost.objects.order_by("id"))
    assert [p.body.strip() for p in posts] == [
        "We are investigating failed payments.",
        "A fix is deployed; we are watching.",
        "Payments work again.",
    ]
    for post in posts:
        assert secret_note not in post.subject + post.body and secret_update not in post.subject + post.body
    for request, _ in pager.log:
        body = request.get_data(as_text=True)
        assert secret_note not in body and secret_update not in body
    assert [u.body for u in selectors.public_updates(incident)] == [p.body.strip() for p in posts]

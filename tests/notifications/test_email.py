"""Email through Django's SMTP backend to a real local SMTP server (aiosmtpd)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.sending import deliveries_sweep
from ersen_ops.notifications.services import notify
from tests.receivers import Mailbox, free_port

pytestmark = pytest.mark.django_db

BODY = "## Scheduled Maintenance\n\n**When**: Tue 2026-12-01 02:00-02:30 PST\n**Impact**: login unavailable <5 min"


def test_email_reaches_every_recipient_with_plain_and_html_parts(smtp_server, send):
    with send():
        (delivery,) = notify(
            event="maintenance.scheduled",
            channels=[Channel.EMAIL],
            subject="Scheduled maintenance: database upgrade",
            body=BODY,
            extra_recipients=["owner@ersen.xyz", "ops@ersen.xyz"],
        )
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    assert delivery.response == "250 2.0.0 Ok: queued as TEST42"  # the server's own reply to DATA
    assert delivery.target_name == "ops@ersen.xyz (3 recipients)"

    (envelope,) = smtp_server.envelopes
    assert envelope.rcpt_tos == ["ops@ersen.xyz", "oncall@ersen.xyz", "owner@ersen.xyz"]
    (message,) = smtp_server.messages()
    assert message["Subject"] == "Scheduled maintenance: database upgrade"
    assert message["From"] == "Ersen Ops <ops@ersen.xyz>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["Message-ID"].startswith(f"<notification-{delivery.pk}.")
    plain = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "**When**: Tue 2026-12-01 02:00-02:30 PST" in plain
    assert "<h2>Scheduled Maintenance</h2>" in html
    assert "<strong>When</strong>: Tue 2026-12-01 02:00-02:30 PST" in html
    assert "login unavailable &lt;5 min" in html  # escaped, never raw markup
    assert AuditEvent.objects.get(action="notification.sent").data["response"].startswith("250 ")


def test_recipients_refused_with_550_fail_at_once_with_the_smtp_reply(smtp_server, send):
    smtp_server.refuse = {"ops@ersen.xyz": "550 5.1.1 no such user", "oncall@ersen.xyz": "550 5.1.1 no such user"}
    with send():
        (delivery,) = notify(event="maintenance.scheduled", channels=[Channel.EMAIL], subject="S", body="B")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.response == "550 5.1.1 no such user"
    assert "all recipients refused" in delivery.last_error
    assert smtp_server.envelopes == []


def test_a_temporary_smtp_refusal_is_retried(smtp_server, send):
    smtp_server.refuse = {"ops@ersen.xyz": "451 4.3.0 try again later", "oncall@ersen.xyz": "451 4.3.0 try again later"}
    with send():
        (delivery,) = notify(event="maintenance.scheduled", channels=[Channel.EMAIL], subject="S", body="B")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.QUEUED and delivery.response == "451 4.3.0 try again later"
    smtp_server.refuse = {}
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=True):
        with send():
            deliveries_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2
    assert len(smtp_server.envelopes) == 1


def test_an_unreachable_smtp_server_is_retried_not_failed(settings, send):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.OPS_EMAIL_TO = ["ops@ersen.xyz"]
    with send():
        (delivery,) = notify(event="maintenance.scheduled", channels=[Channel.EMAIL], subject="S", body="B")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.QUEUED
    assert delivery.response == "no response" and "ConnectionRefusedError" in delivery.last_error


def test_a_rejected_smtp_password_fails_without_showing_the_password(settings, send, caplog):
    password = "smtp-Pa55word-very-secret"
    recorder = Mailbox()
    port = free_port()
    controller = Controller(
        recorder,
        hostname="127.0.0.1",
        port=port,
        auth_require_tls=False,
        authenticator=lambda server, session, envelope, mechanism, auth_data: AuthResult(success=False, handled=False),
    )
    controller.start()
    try:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER, settings.EMAIL_HOST_PASSWORD = "ops", password
        settings.OPS_EMAIL_TO = ["ops@ersen.xyz"]
        caplog.set_level("DEBUG")
        with send():
            (delivery,) = notify(event="maintenance.scheduled", channels=[Channel.EMAIL], subject="S", body="B")
    finally:
        controller.stop()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED, (delivery.response, delivery.last_error)
    assert delivery.response.startswith("535 ")
    assert recorder.envelopes == []
    stored = " ".join(str(v) for v in delivery.__dict__.values())
    assert password not in stored
    assert all(password not in str(e.data) for e in AuditEvent.objects.all())
    assert password not in caplog.text


def test_email_without_any_recipient_is_skipped_as_not_configured(settings, send):
    settings.OPS_EMAIL_TO = []
    with send():
        (delivery,) = notify(event="maintenance.scheduled", channels=[Channel.EMAIL], subject="S", body="B")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert delivery.last_error == "not configured: set OPS_EMAIL_TO"

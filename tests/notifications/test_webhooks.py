"""Discord, Slack and the pager against a real local HTTP server: exact JSON, splitting, retries, failures."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from werkzeug import Response

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.choices import Channel, DeliveryStatus, PagerAction
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.sending import deliveries_sweep
from ersen_ops.notifications.services import notify
from tests.factories import ComponentFactory
from tests.notifications.conftest import (
    DISCORD_PATH,
    PAGER_PATH,
    ROUTING_KEY,
    SLACK_PATH,
    TEAM_OPS_PATH,
)

pytestmark = pytest.mark.django_db

NO_PINGS = {"parse": []}


def _actions(delivery):
    return list(
        AuditEvent.objects.filter(target_id=str(delivery.pk), action__startswith="notification.")
        .order_by("id")
        .values_list("action", flat=True)
    )


def test_discord_receives_exactly_the_rendered_markdown(webhooks, send):
    webhooks.expect_ordered_request(
        DISCORD_PATH,
        method="POST",
        json={"content": "**Database upgrade**\n\nPostgreSQL 16 → 17, ~20 minutes.", "allowed_mentions": NO_PINGS},
    ).respond_with_data("", status=204)
    with send():
        (delivery,) = notify(
            event="maintenance.scheduled",
            channels=[Channel.DISCORD],
            subject="Database upgrade",
            body="PostgreSQL 16 → 17, ~20 minutes.",
        )
    webhooks.check_assertions()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.response == "HTTP 204 NO CONTENT"
    assert delivery.attempts == 1 and delivery.sent_at is not None
    assert delivery.target_name == "Discord webhook"
    assert _actions(delivery) == ["notification.queued", "notification.sent"]
    sent = AuditEvent.objects.get(action="notification.sent")
    assert sent.data["attempt"] == 1 and sent.data["response"] == "HTTP 204 NO CONTENT"


def test_a_long_discord_message_is_split_on_sentence_boundaries_into_numbered_parts(webhooks, send):
    sentences = [f"Step {i}: restart the service number {i} and check its health endpoint." for i in range(60)]
    body = " ".join(sentences)  # ~4,300 characters, one paragraph
    received = []

    def handler(request):
        received.append(request.get_json()["content"])
        return Response("", status=204)

    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_handler(handler)
    with send():
        (delivery,) = notify(event="maintenance.summary", channels=[Channel.DISCORD], subject="Runbook", body=body)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert len(received) == delivery.parts_total == delivery.parts_sent == 3
    assert delivery.response == "HTTP 204 NO CONTENT (3 parts)"
    assert all(len(part) <= 2000 for part in received)
    for number, part in enumerate(received, start=1):
        text, marker = part.rsplit("\n", 1)
        assert marker == f"({number}/3)"
        assert text.endswith(".") or number == 3 and text.endswith("endpoint.")  # never cut mid-sentence
    rejoined = " ".join(p.rsplit("\n", 1)[0] for p in received)
    assert rejoined == f"**Runbook**\n\n{body}"


def test_a_500_is_retried_after_the_backoff_and_then_succeeds(webhooks, send):
    webhooks.expect_ordered_request(SLACK_PATH, method="POST").respond_with_data("upstream broke", status=500)
    webhooks.expect_ordered_request(SLACK_PATH, method="POST").respond_with_data("ok", status=200)
    with send():
        (delivery,) = notify(event="incident.opened", channels=[Channel.SLACK], subject="P2: search down", body="x")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.QUEUED
    assert delivery.attempts == 1
    assert delivery.response == "HTTP 500 INTERNAL SERVER ERROR"
    assert "upstream broke" in delivery.last_error
    first_due = delivery.next_attempt_at
    assert timedelta(seconds=29) < first_due - delivery.last_attempt_at <= timedelta(seconds=31)

    with send():
        assert deliveries_sweep()["queued"] == 0  # not due yet: nothing sent early
    assert len(webhooks.log) == 1

    with time_machine.travel(first_due + timedelta(seconds=1), tick=True):
        with send():
            assert deliveries_sweep()["queued"] == 1
    webhooks.check_assertions()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2
    assert delivery.response == "HTTP 200 OK" and delivery.last_error == ""
    assert _actions(delivery) == ["notification.queued", "notification.retry_scheduled", "notification.sent"]
    retry = AuditEvent.objects.get(action="notification.retry_scheduled")
    assert retry.data["attempt"] == 1 and retry.data["wait_seconds"] == 30
    assert retry.data["response"] == "HTTP 500 INTERNAL SERVER ERROR" and retry.data["response_code"] == 500
    assert AuditEvent.objects.get(action="notification.sent").data["attempt"] == 2


def test_a_short_discord_429_retry_after_is_waited_out_within_the_attempt(webhooks, send):
    seen = []

    def handler(request):
        seen.append(time.monotonic())
        if len(seen) == 1:
            return Response(
                '{"message": "You are being rate limited.", "retry_after": 0.3, "global": false}',
                status=429,
                content_type="application/json",
            )
        return Response("", status=204)

    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_handler(handler)
    with send():
        (delivery,) = notify(event="maintenance.started", channels=[Channel.DISCORD], subject="Started", body="Now.")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.attempts == 1
    assert len(seen) == 2
    assert seen[1] - seen[0] >= 0.3, "the second request came before retry_after had passed"


def test_a_long_discord_429_retry_after_reschedules_no_earlier_than_asked(webhooks, send):
    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_json(
        {"message": "You are being rate limited.", "retry_after": 95.5, "global": True}, status=429
    )
    with send():
        (delivery,) = notify(event="maintenance.started", channels=[Channel.DISCORD], subject="Started", body="Now.")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.QUEUED
    assert len(webhooks.log) == 1
    assert delivery.next_attempt_at - delivery.last_attempt_at >= timedelta(seconds=96)
    event = AuditEvent.objects.get(action="notification.retry_scheduled")
    assert event.data["retry_after"] == 95.5 and event.data["wait_seconds"] == 96


def test_a_400_fails_at_once_with_the_response_body_recorded(webhooks, send):
    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_json(
        {"message": "Cannot send an empty message", "code": 50006}, status=400
    )
    with send():
        (delivery,) = notify(event="maintenance.started", channels=[Channel.DISCORD], subject="Started", body="Now.")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 1 and delivery.next_attempt_at is None
    assert delivery.response == "HTTP 400 BAD REQUEST"
    assert "Cannot send an empty message" in delivery.last_error and "50006" in delivery.last_error
    assert _actions(delivery) == ["notification.queued", "notification.failed"]
    with send():
        deliveries_sweep()
    assert len(webhooks.log) == 1, "a failed delivery is never retried by the sweeper"


def test_slack_and_team_ops_receive_mrkdwn_text(webhooks, send):
    webhooks.expect_request(
        SLACK_PATH,
        method="POST",
        json={
            "text": "*P2: checkout &amp; payments slow*\n*Impact*: card payments take <https://status.ersen.xyz|30 s>",
        },
    ).respond_with_data("ok")
    webhooks.expect_request(
        TEAM_OPS_PATH,
        method="POST",
        json={
            "text": "*P2: checkout &amp; payments slow*\n*Impact*: card payments take <https://status.ersen.xyz|30 s>",
        },
    ).respond_with_data("ok")
    with send():
        deliveries = notify(
            event="incident.opened",
            channels=[Channel.SLACK, Channel.SLACK_TEAM_OPS],
            subject="P2: checkout & payments slow",
            body="**Impact**: card payments take [30 s](https://status.ersen.xyz)",
        )
    webhooks.check_assertions()
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.SENT, delivery.last_error
    assert [d.target_name for d in deliveries] == ["Slack alerts channel", "Slack #team-ops"]


def test_the_pager_triggers_acknowledges_and_resolves_the_same_alert(webhooks, send):
    component = ComponentFactory(name="API")
    dedup = f"ersen-ops/status.component/{component.pk}"
    accepted = {"status": "success", "message": "Event processed", "dedup_key": dedup}
    webhooks.expect_ordered_request(
        PAGER_PATH,
        method="POST",
        json={
            "routing_key": ROUTING_KEY,
            "event_action": "trigger",
            "dedup_key": dedup,
            "payload": {
                "summary": "P1: API down",
                "severity": "critical",
                "source": "ersen-ops",
                "custom_details": {"event": "incident.opened", "details": "Every request 502s."},
            },
            "client": "Ersen Ops",
            "client_url": "http://127.0.0.1:8000",
        },
    ).respond_with_json(accepted, status=202)
    webhooks.expect_ordered_request(
        PAGER_PATH,
        method="POST",
        json={
            "routing_key": ROUTING_KEY,
            "event_action": "acknowledge",
            "dedup_key": dedup,
        },
    ).respond_with_json(accepted, status=202)
    webhooks.expect_ordered_request(
        PAGER_PATH,
        method="POST",
        json={
            "routing_key": ROUTING_KEY,
            "event_action": "resolve",
            "dedup_key": dedup,
        },
    ).respond_with_json(accepted, status=202)
    for action, subject in [
        (PagerAction.TRIGGER, "P1: API down"),
        (PagerAction.ACKNOWLEDGE, "ack"),
        (PagerAction.RESOLVE, "resolved"),
    ]:
        with send():
            notify(
                event="incident.opened",
                channels=[Channel.PAGER],
                subject=subject,
                body="Every request 502s.",
                related=component,
                pager_action=action,
                severity="P1",
            )
    webhooks.check_assertions()
    rows = NotificationDelivery.objects.order_by("id")
    assert [r.status for r in rows] == [DeliveryStatus.SENT] * 3
    assert {r.dedup_key for r in rows} == {dedup}
    assert rows[0].response == "HTTP 202 ACCEPTED"


def test_a_network_error_is_retried_and_the_delivery_gives_up_after_the_last_attempt(settings, send):
    settings.DISCORD_WEBHOOK_URL = "http://127.0.0.1:9/api/webhooks/1/closed-port-SECRET-0123456789"
    settings.OPS_NOTIFY_RETRY_DELAYS = [30, 60]
    with send():
        (delivery,) = notify(event="maintenance.started", channels=[Channel.DISCORD], subject="Started", body="Now.")
    for _ in range(2):
        delivery.refresh_from_db()
        assert delivery.status == DeliveryStatus.QUEUED
        with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=True):
            with send():
                deliveries_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 3
    assert delivery.last_error.startswith("gave up after 3 attempts")
    assert "ConnectionError" in delivery.last_error
    assert "closed-port-SECRET" not in delivery.last_error and "[masked:DISCORD_WEBHOOK_URL]" in delivery.last_error
    assert _actions(delivery) == [
        "notification.queued",
        "notification.retry_scheduled",
        "notification.retry_scheduled",
        "notification.failed",
    ]


def test_a_retry_continues_a_split_message_with_the_part_that_failed(webhooks, send):
    body = "\n\n".join(f"Paragraph {i}. " + "word " * 300 for i in range(3))  # 3 × ~1,500 chars → 3 parts
    contents = []

    def handler(request):
        contents.append(request.get_json()["content"])
        if len(contents) == 2:
            return Response("bad gateway", status=502)
        return Response("", status=204)

    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_handler(handler)
    with send():
        (delivery,) = notify(event="maintenance.summary", channels=[Channel.DISCORD], subject="Summary", body=body)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.QUEUED and delivery.parts_sent == 1 and delivery.parts_total == 3
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=True):
        with send():
            deliveries_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.parts_sent == 3
    markers = [c.rsplit("\n", 1)[1] for c in contents]
    assert markers == ["(1/3)", "(2/3)", "(2/3)", "(3/3)"], "part 1 must not be sent twice"


def test_a_malformed_webhook_url_fails_at_once_naming_the_variable(settings, send):
    settings.DISCORD_WEBHOOK_URL = "discord.com/api/webhooks/1/not-a-url-SECRET-0123456789"
    with send():
        (delivery,) = notify(event="x", channels=[Channel.DISCORD], subject="S", body="B")
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
    assert delivery.last_error == "DISCORD_WEBHOOK_URL is not a valid http(s) URL"

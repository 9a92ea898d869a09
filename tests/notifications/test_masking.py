"""Secrets (webhook URLs, routing key, SMTP password) never reach the database, the audit log or a log line."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.masking import mask
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.sending import deliveries_sweep
from ersen_ops.notifications.services import notify
from tests.notifications.conftest import (
    DISCORD_PATH,
    DISCORD_TOKEN,
    PAGER_PATH,
    ROUTING_KEY,
    SLACK_PATH,
    assert_no_secret,
)

pytestmark = pytest.mark.django_db


def test_mask_replaces_the_url_and_every_recognisable_piece_of_it(settings):
    url = "https://discord.com/api/webhooks/1180000000000000001/abcDEF-ghiJKL_0123456789-token"
    settings.DISCORD_WEBHOOK_URL = url
    settings.PAGER_ROUTING_KEY = "R0UTINGKEYsecret0123456789abcdef"
    settings.EMAIL_HOST_PASSWORD = "hunter2-but-longer"
    assert mask(f"POST {url} failed") == "POST [masked:DISCORD_WEBHOOK_URL] failed"
    # urllib3 quotes only the path; some libraries quote only the host and path.
    assert DISCORD_TOKEN not in mask(
        "Max retries exceeded with url: /api/webhooks/1180000000000000001/abcDEF-ghiJKL_0123456789-token"
    )
    assert "abcDEF-ghiJKL" not in mask("token abcDEF-ghiJKL_0123456789-token expired")
    assert "abcDEF-ghiJKL" not in mask("discord.com/api/webhooks/1180000000000000001/abcDEF-ghiJKL_0123456789-token")
    assert mask("key=R0UTINGKEYsecret0123456789abcdef") == "key=[masked:PAGER_ROUTING_KEY]"
    assert mask("login failed for hunter2-but-longer") == "login failed for [masked:EMAIL_HOST_PASSWORD]"
    assert mask("nothing secret here") == "nothing secret here"
    assert mask(None) == ""


def test_mask_ignores_unset_secrets(settings):
    settings.DISCORD_WEBHOOK_URL = ""
    settings.EMAIL_HOST_PASSWORD = ""
    assert mask("a b c") == "a b c"


def _everything_stored() -> str:
    rows = list(NotificationDelivery.objects.values())
    events = list(AuditEvent.objects.values("data", "target_repr"))
    return repr(rows) + repr(events)


def _our_log_lines(caplog) -> str:
    # werkzeug's lines are the *receiver's* access log (it plays Discord); everything else is ours or our libraries'.
    lines = []
    for record in caplog.records:
        if record.name.startswith("werkzeug"):
            continue
        lines.append(record.getMessage())
        if record.exc_text:
            lines.append(record.exc_text)
    return "\n".join(lines)


def test_no_secret_in_any_row_audit_event_or_log_line_whatever_happens(webhooks, send, caplog):
    caplog.set_level(logging.DEBUG)
    # Receivers that echo the secret back, in an error body.
    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_data(
        f"invalid webhook token {DISCORD_TOKEN}", status=401
    )
    webhooks.expect_request(SLACK_PATH, method="POST").respond_with_data("rollup_error", status=503)
    webhooks.expect_request(PAGER_PATH, method="POST").respond_with_json(
        {"status": "invalid event", "message": f"routing key {ROUTING_KEY} unknown"}, status=400
    )
    with send():
        notify(
            event="incident.opened",
            channels=[Channel.DISCORD, Channel.SLACK, Channel.PAGER, Channel.STATUS_PAGE],
            subject="P1: API down",
            body="Everything 502s.",
        )
    statuses = dict(NotificationDelivery.objects.values_list("channel", "status"))
    assert statuses == {
        Channel.DISCORD: DeliveryStatus.FAILED,
        Channel.SLACK: DeliveryStatus.QUEUED,
        Channel.PAGER: DeliveryStatus.FAILED,
        Channel.STATUS_PAGE: DeliveryStatus.SENT,
    }
    discord = NotificationDelivery.objects.get(channel=Channel.DISCORD)
    assert "invalid webhook token [masked:DISCORD_WEBHOOK_URL]" in discord.last_error
    assert "[masked:PAGER_ROUTING_KEY]" in NotificationDelivery.objects.get(channel=Channel.PAGER).last_error
    assert "urllib3.connectionpool" in {r.name for r in caplog.records}, "the HTTP library's lines were captured"
    assert_no_secret(_everything_stored())
    assert_no_secret(_our_log_lines(caplog))


def test_a_connection_error_naming_the_secret_path_is_masked_in_the_row_and_the_log(settings, send, caplog):
    caplog.set_level(logging.DEBUG)
    settings.DISCORD_WEBHOOK_URL = f"http://127.0.0.1:9{DISCORD_PATH}"  # nothing listens on port 9
    settings.OPS_NOTIFY_RETRY_DELAYS = [30]
    with send():
        (delivery,) = notify(event="x", channels=[Channel.DISCORD], subject="S", body="B")
    delivery.refresh_from_db()
    with time_machine.travel(delivery.next_attempt_at + timedelta(seconds=1), tick=True):
        with send():
            deliveries_sweep()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.FAILED
    assert "[masked:DISCORD_WEBHOOK_URL]" in delivery.last_error
    assert_no_secret(_everything_stored())
    assert_no_secret(_our_log_lines(caplog))


def test_log_masking_also_covers_tracebacks(settings, caplog):
    settings.DISCORD_WEBHOOK_URL = f"https://discord.com{DISCORD_PATH}"
    logger = logging.getLogger("ersen_ops.notifications")
    caplog.set_level(logging.INFO)
    try:
        raise RuntimeError(f"cannot reach https://discord.com{DISCORD_PATH}")
    except RuntimeError:
        logger.exception("posting to %s failed", settings.DISCORD_WEBHOOK_URL)
    (record,) = [r for r in caplog.records if r.name == "ersen_ops.notifications"]
    assert record.getMessage() == "posting to [masked:DISCORD_WEBHOOK_URL] failed"
    assert DISCORD_TOKEN not in caplog.text
    assert "[masked:DISCORD_WEBHOOK_URL]" in record.exc_text


def test_the_target_name_never_contains_the_url(webhooks):
    rows = notify(
        event="x",
        channels=[Channel.DISCORD, Channel.SLACK, Channel.SLACK_TEAM_OPS, Channel.PAGER],
        subject="S",
        body="B",
    )
    assert [r.target_name for r in rows] == [
        "Discord webhook",
        "Slack alerts channel",
        "Slack #team-ops",
        "Pager (Events API v2)",
    ]
    assert_no_secret(_everything_stored())

"""What became of a notification, in words: derived from the deliveries' real status, never assumed."""

from __future__ import annotations

import pytest

from ersen_ops.audit.models import AuditEvent
from ersen_ops.notifications import outcomes
from ersen_ops.notifications.choices import Channel, DeliveryStatus, PagerAction
from ersen_ops.notifications.services import collect_deliveries, notify
from tests.notifications.conftest import PAGER_PATH, SLACK_PATH
from tests.notifications.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def nothing_configured(settings):
    settings.PAGER_WEBHOOK_URL = settings.PAGER_ROUTING_KEY = settings.SLACK_WEBHOOK_URL = ""


def test_a_queued_delivery_to_an_unconfigured_channel_is_described_as_not_sent(nothing_configured):
    with collect_deliveries() as queued:
        notify(event="incident.paged", channels=[Channel.PAGER, Channel.SLACK], subject="P1", body="Down.")
    assert [d.status for d in queued] == [DeliveryStatus.QUEUED] * 2
    assert outcomes.describe_deliveries(queued) == (
        "Pager: not sent — not configured (set PAGER_WEBHOOK_URL and PAGER_ROUTING_KEY); "
        "Slack (alerts): not sent — not configured (set SLACK_WEBHOOK_URL)."
    )
    assert outcomes.deliveries_have_problem(queued)


def test_each_real_status_has_its_own_words(nothing_configured, settings):
    settings.SLACK_WEBHOOK_URL = "http://127.0.0.1:9/hook"
    sent = DeliveryFactory(channel=Channel.SLACK, status=DeliveryStatus.SENT)
    failed = DeliveryFactory(channel=Channel.SLACK, status=DeliveryStatus.FAILED, last_error="HTTP 400 Bad Request")
    skipped = DeliveryFactory(
        channel=Channel.PAGER, status=DeliveryStatus.SKIPPED, last_error="not configured: set PAGER_WEBHOOK_URL"
    )
    queued = DeliveryFactory(channel=Channel.SLACK, status=DeliveryStatus.QUEUED)
    retrying = DeliveryFactory(channel=Channel.SLACK, status=DeliveryStatus.QUEUED, attempts=1, last_error="HTTP 503")
    words = {d.pk: outcomes.delivery_outcome(d).words for d in (sent, failed, skipped, queued, retrying)}
    assert words == {
        sent.pk: "sent",
        failed.pk: "FAILED (HTTP 400 Bad Request)",
        skipped.pk: "not sent — not configured (set PAGER_WEBHOOK_URL)",
        queued.pk: "queued",
        retrying.pk: "retrying (attempt 1: HTTP 503)",
    }
    assert not outcomes.deliveries_have_problem([sent, queued, retrying])
    # Several deliveries to one channel are summed up per outcome.
    assert (
        outcomes.describe_deliveries([sent, failed, sent]) == "Slack (alerts): 2 sent, 1 FAILED (HTTP 400 Bad Request)."
    )


def test_the_pager_alert_is_open_only_if_a_trigger_really_reached_the_pager():
    skipped = DeliveryFactory(channel=Channel.PAGER, pager_action=PagerAction.TRIGGER, status=DeliveryStatus.SKIPPED)
    assert not outcomes.pager_alert_open([skipped])
    trigger = DeliveryFactory(channel=Channel.PAGER, pager_action=PagerAction.TRIGGER, status=DeliveryStatus.SENT)
    assert outcomes.pager_alert_open([skipped, trigger])
    resolve = DeliveryFactory(channel=Channel.PAGER, pager_action=PagerAction.RESOLVE, status=DeliveryStatus.SENT)
    assert not outcomes.pager_alert_open([skipped, trigger, resolve])


def test_channels_about_to_be_used_say_which_will_be_skipped(nothing_configured, settings):
    settings.OPS_EMAIL_TO = []
    assert outcomes.describe_channels([Channel.STATUS_PAGE, Channel.EMAIL]) == (
        "Status page, Email (not configured: set OPS_EMAIL_TO — it will be skipped)"
    )


def test_a_rolled_back_delivery_is_not_reported(nothing_configured):
    from django.db import transaction

    with collect_deliveries() as queued:
        with pytest.raises(RuntimeError), transaction.atomic():
            notify(event="x", channels=[Channel.PAGER], subject="P1", body="Down.")
            raise RuntimeError
    assert len(queued) == 1 and outcomes.report(queued) == ("", False)
    assert not AuditEvent.objects.filter(action="notification.queued").exists()


def test_a_p1_opened_in_the_admin_says_what_the_pager_and_slack_really_got(client, users, settings, webhooks, send):
    """The message is written before the worker sends (queued); the Response panel, read afterwards, says what
    really happened: the pager answered 400, so no alert is open."""
    webhooks.expect_request(SLACK_PATH, method="POST").respond_with_data("ok")
    webhooks.expect_request(PAGER_PATH, method="POST").respond_with_json({"message": "Invalid routing key"}, status=400)
    client.force_login(users["commander"])
    with send():
        response = client.post("/admin/incidents/incident/open/", {"title": "Checkout down", "level": "P1"})
    page = client.get(response["Location"])
    [message] = list(page.context["messages"])
    assert message.level_tag == "success"
    assert message.message.endswith("Notifications: Pager: queued; Slack (alerts): queued.")
    html = page.content.decode()
    assert "1 page (last" in html and "FAILED (HTTP 400: {" in html
    assert "pager alert open" not in html and "no pager alert is open: no page reached the pager" in html

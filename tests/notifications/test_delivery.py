"""The delivery lifecycle: after commit only, exactly once, skipped when unconfigured, never stuck in "sending"."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import transaction
from django.utils import timezone
from django_q.models import OrmQ

from ersen_ops.audit.models import AuditEvent
from ersen_ops.core.errors import DomainError
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.sending import STALE_CLAIM_SECONDS, deliveries_sweep, delivery_claim, delivery_send
from ersen_ops.notifications.services import notify
from ersen_ops.notifications.tasks import send_delivery
from ersen_ops.status.models import StatusPost
from tests.factories import ComponentFactory
from tests.notifications.conftest import DISCORD_PATH
from tests.notifications.factories import DeliveryFactory

pytestmark = pytest.mark.django_db


def test_notify_records_one_queued_delivery_per_channel_and_audits_it(users):
    component = ComponentFactory(name="Checkout")
    deliveries = notify(
        event="maintenance.scheduled",
        channels=[Channel.STATUS_PAGE, Channel.DISCORD, Channel.DISCORD],
        subject="Checkout maintenance",
        body="Tuesday.",
        related=component,
        actor=users["operator"],
    )
    assert [d.channel for d in deliveries] == [Channel.STATUS_PAGE, Channel.DISCORD]  # repeats dropped
    assert all(d.status == DeliveryStatus.QUEUED and d.related == component for d in deliveries)
    queued = AuditEvent.objects.filter(action="notification.queued")
    assert queued.count() == 2 and {e.actor_name for e in queued} == {"operator"}


def test_an_unset_channel_is_skipped_with_the_variable_to_set(settings, send):
    settings.DISCORD_WEBHOOK_URL = ""
    settings.PAGER_WEBHOOK_URL, settings.PAGER_ROUTING_KEY = "", ""
    with send():
        discord, pager = notify(
            event="maintenance.started", channels=[Channel.DISCORD, Channel.PAGER], subject="Started", body="Now."
        )
    discord.refresh_from_db()
    pager.refresh_from_db()
    assert discord.status == pager.status == DeliveryStatus.SKIPPED
    assert discord.last_error == "not configured: set DISCORD_WEBHOOK_URL"
    assert pager.last_error == "not configured: set PAGER_WEBHOOK_URL and PAGER_ROUTING_KEY"
    skipped = AuditEvent.objects.get(action="notification.skipped", target_id=str(discord.pk))
    assert skipped.data["error"] == "not configured: set DISCORD_WEBHOOK_URL" and skipped.data["attempt"] == 1


def test_the_status_page_channel_publishes_one_status_post_linked_to_the_window(send):
    component = ComponentFactory(name="API")
    with send():
        (delivery,) = notify(
            event="maintenance.scheduled",
            channels=[Channel.STATUS_PAGE],
            subject="Scheduled maintenance",
            body="## Scheduled Maintenance\n\n**When**: Tue 02:00-02:30 PST",
            related=component,
        )
    delivery.refresh_from_db()
    post = StatusPost.objects.get()
    assert delivery.status == DeliveryStatus.SENT and delivery.response == f"published {post.public_id}"
    assert post.public_id.startswith("upd_") and post.delivery == delivery and post.related == component
    assert post.subject == "Scheduled maintenance"
    assert post.body == "## Scheduled Maintenance\n\n**When**: Tue 02:00-02:30 PST\n"
    # Publishing again (a crash after the post, before the row said "sent") makes no second post.
    NotificationDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.QUEUED)
    send_delivery(delivery.pk)
    assert StatusPost.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_records_and_sends_nothing(webhooks, sync_queue):
    class Boom(Exception):
        pass

    with pytest.raises(Boom):
        with transaction.atomic():
            notify(
                event="maintenance.scheduled", channels=[Channel.DISCORD, Channel.STATUS_PAGE], subject="S", body="B"
            )
            raise Boom
    assert NotificationDelivery.objects.count() == 0
    assert StatusPost.objects.count() == 0
    assert OrmQ.objects.count() == 0
    assert webhooks.log == []


@pytest.mark.django_db(transaction=True)
def test_sending_starts_only_after_the_callers_transaction_commits(webhooks, sync_queue):
    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_data("", status=204)
    with transaction.atomic():
        (delivery,) = notify(event="maintenance.scheduled", channels=[Channel.DISCORD], subject="S", body="B")
        assert webhooks.log == [], "nothing may leave before commit"
    assert len(webhooks.log) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_a_duplicated_task_sends_once(webhooks, send):
    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_data("", status=204)
    with send():
        (delivery,) = notify(event="maintenance.scheduled", channels=[Channel.DISCORD], subject="S", body="B")
    # django-q delivers at least once: the same task arrives again, twice.
    assert send_delivery(delivery.pk) is None
    assert send_delivery(delivery.pk) is None
    assert len(webhooks.log) == 1
    delivery.refresh_from_db()
    assert delivery.attempts == 1
    assert AuditEvent.objects.filter(action="notification.sent").count() == 1


def test_only_one_of_two_concurrent_claims_wins():
    delivery = DeliveryFactory()
    first = delivery_claim(delivery_id=delivery.pk)
    second = delivery_claim(delivery_id=delivery.pk)
    assert first and second is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENDING and delivery.claim_token == first and delivery.attempts == 1


def test_a_claim_left_by_a_dead_worker_is_released_by_the_sweeper_and_retried(webhooks, send):
    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_data("", status=204)
    delivery = DeliveryFactory()
    assert delivery_claim(delivery_id=delivery.pk)  # the worker claimed it, then was SIGKILLed
    with send():
        assert deliveries_sweep()["stale_released"] == 0  # a fresh claim belongs to a live worker
    later = timezone.now() + timedelta(seconds=STALE_CLAIM_SECONDS + 5)
    with time_machine.travel(later, tick=True):
        with send():
            counts = deliveries_sweep()
    assert counts["stale_released"] == 1 and counts["queued"] == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2
    assert len(webhooks.log) == 1
    expired = AuditEvent.objects.get(action="notification.claim_expired")
    assert expired.data["before"] == {"status": "sending"} and expired.data["after"] == {"status": "queued"}
    assert "never finished" in expired.data["error"]


def test_a_late_result_from_a_released_claim_does_not_overwrite_the_new_attempt(webhooks):
    from ersen_ops.notifications.sending import _finish

    delivery = DeliveryFactory()
    old_token = delivery_claim(delivery_id=delivery.pk)
    NotificationDelivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.QUEUED, claim_token="")
    new_token = delivery_claim(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert _finish(delivery, old_token, DeliveryStatus.FAILED, response="HTTP 400", error="late") is None
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENDING and delivery.claim_token == new_token


def test_a_delivery_whose_task_was_lost_is_queued_again_by_the_sweeper(webhooks, send):
    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_data("", status=204)
    delivery = DeliveryFactory()  # queued, but its task never reached the broker
    with send():
        assert deliveries_sweep()["queued"] == 0  # give the queue a chance first
    with time_machine.travel(timezone.now() + timedelta(minutes=3), tick=True):
        with send():
            assert deliveries_sweep()["queued"] == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_an_event_template_is_used_when_present_and_the_default_otherwise(tmp_path, settings):
    event_dir = tmp_path / "notifications" / "maintenance.completed"
    event_dir.mkdir(parents=True)
    (event_dir / "markdown.md").write_text("✅ {{ subject }} — {{ window_title }} & done")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    from ersen_ops.notifications import rendering

    rendering._text_engine.cache_clear()
    try:
        discord, slack = notify(
            event="maintenance.completed",
            channels=[Channel.DISCORD, Channel.SLACK],
            subject="Maintenance completed",
            body="All good.",
            context={"window_title": "DB <upgrade>"},
        )
    finally:
        rendering._text_engine.cache_clear()
    assert discord.message == "✅ Maintenance completed — DB <upgrade> & done\n"  # Markdown is not HTML-escaped
    assert discord.template_names == "notifications/maintenance.completed/markdown.md"
    assert slack.template_names == "notifications/default/mrkdwn.txt"
    assert slack.message == "*Maintenance completed*\nAll good.\n"


def test_a_broken_event_template_falls_back_to_the_default_instead_of_failing_the_caller(tmp_path, settings):
    event_dir = tmp_path / "notifications" / "incident.opened"
    event_dir.mkdir(parents=True)
    (event_dir / "markdown.md").write_text("{% if %}broken")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [tmp_path, *settings.TEMPLATES[0]["DIRS"]]}]
    from ersen_ops.notifications import rendering

    rendering._text_engine.cache_clear()
    try:
        (delivery,) = notify(event="incident.opened", channels=[Channel.DISCORD], subject="P1", body="Down.")
    finally:
        rendering._text_engine.cache_clear()
    assert delivery.template_names == "notifications/default/markdown.md"
    assert delivery.message == "**P1**\n\nDown.\n"


def test_an_invalid_extra_recipient_is_refused_with_a_readable_message():
    with pytest.raises(DomainError, match="Not an email address: 'not-an-address'"):
        notify(event="x", channels=[Channel.EMAIL], subject="S", body="B", extra_recipients=["not-an-address"])
    assert NotificationDelivery.objects.count() == 0


def test_delivery_send_of_a_final_delivery_does_nothing():
    delivery = DeliveryFactory(status=DeliveryStatus.SENT)
    assert delivery_send(delivery_id=delivery.pk) is None
    delivery.refresh_from_db()
    assert delivery.attempts == 0


def test_the_test_command_reports_each_channel_outcome(webhooks, settings):
    from io import StringIO

    from django.core.management import call_command

    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_data("", status=204)
    settings.SLACK_WEBHOOK_URL = ""
    out = StringIO()
    call_command("notifications_test", "--channel", "discord", "--channel", "slack", "--now", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("Discord → Discord webhook: sent (HTTP 204 NO CONTENT)")
    assert lines[1].endswith("Slack (alerts) → Slack alerts channel: skipped (not configured: set SLACK_WEBHOOK_URL)")


def test_the_sweeper_is_declared_to_run_every_minute():
    from ersen_ops.core.scheduling import declared

    (sweep,) = [s for s in declared() if s.name == "notifications.sweep"]
    assert sweep.func == "ersen_ops.notifications.tasks.sweep_deliveries" and sweep.minutes == 1


def test_five_workers_racing_for_one_delivery_send_it_once(transactional_postgres, webhooks):
    import threading

    from django.db import connections

    webhooks.expect_request(DISCORD_PATH, method="POST").respond_with_data("", status=204)
    delivery = DeliveryFactory()
    barrier = threading.Barrier(5)
    results = []

    def worker():
        try:
            barrier.wait()
            results.append(send_delivery(delivery.pk))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results, key=str) == [None, None, None, None, "sent"]
    assert len(webhooks.log) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1

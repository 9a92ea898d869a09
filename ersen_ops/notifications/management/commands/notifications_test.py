"""Send a test notification to check a channel's configuration: `manage.py notifications_test --channel discord`."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ersen_ops.notifications.choices import Channel, PagerAction
from ersen_ops.notifications.models import NotificationDelivery
from ersen_ops.notifications.sending import delivery_send
from ersen_ops.notifications.services import notify


class Command(BaseCommand):
    help = (
        "Queue a test notification to the given channels (default: every channel except the pager and the public "
        "status page) and, with --now, send it from this process and print what happened."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--channel", action="append", choices=Channel.values, dest="channels", help="repeat for several"
        )
        parser.add_argument("--now", action="store_true", help="send here and now instead of through the worker")

    def handle(self, *args, channels=None, now=False, **options):
        channels = channels or [Channel.EMAIL, Channel.DISCORD, Channel.SLACK, Channel.SLACK_TEAM_OPS]
        deliveries = notify(
            event="notifications.test",
            channels=channels,
            subject="Test notification from Ersen Ops",
            body="This is a test of the notification channels. No action is needed.",
            actor="system:cli",
            # Opt-in only (--channel pager): a test page is an info-level alert under one fixed key.
            pager_action=PagerAction.TRIGGER,
            dedup_key="ersen-ops/notifications-test",
            severity="info",
        )
        failed = False
        for delivery in deliveries:
            if now:
                delivery_send(delivery_id=delivery.pk)
                delivery = NotificationDelivery.objects.get(pk=delivery.pk)
            detail = delivery.response or delivery.last_error
            self.stdout.write(
                f"#{delivery.pk} {delivery.get_channel_display()} → {delivery.target_name}: {delivery.status}"
                + (f" ({detail})" if detail else "")
            )
            failed = failed or delivery.status == "failed"
        if failed:
            raise CommandError("at least one channel failed; see the delivery's last error in the admin")

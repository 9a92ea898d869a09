"""The status page as a notification channel: publishing = one StatusPost per delivery.

Registered with the notifications app in `StatusConfig.ready()` (`register_channel`), so notifications, below
status, never imports it; the claim, retry, sweeper and audit of notifications' sending apply unchanged.
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse

from ersen_ops.notifications.channels import BaseChannel, Progress, Sent
from ersen_ops.notifications.choices import Channel
from ersen_ops.status.models import StatusPost


class StatusPageChannel(BaseChannel):
    """Publishing on the public status page = one StatusPost per delivery (idempotent)."""

    code = Channel.STATUS_PAGE

    def target_name(self, delivery) -> str:
        return "Public status page"

    def send(self, delivery, progress: Progress) -> Sent:
        post, created = StatusPost.objects.get_or_create(
            delivery=delivery,
            defaults={
                "related_type_id": delivery.related_type_id,
                "related_id": delivery.related_id,
                "event": delivery.event,
                "subject": delivery.subject,
                "body": delivery.message or delivery.body,
                # Dated when the portal published it, not when a worker got to it (after a worker outage, or
                # for demo history dated by deliveries_dated(), the page's history keeps its times and order).
                "created_at": delivery.created_at,
            },
        )
        progress.total(1)
        progress.part_sent(1)
        return Sent(response=f"published {post.public_id}" + ("" if created else " (already published)"))

    def published(self, delivery) -> tuple[str, str | None] | None:
        post = StatusPost.objects.filter(delivery=delivery).values_list("pk", "public_id").first()
        if not post:
            return None
        try:
            return post[1], reverse("admin:status_statuspost_change", args=[post[0]])
        except NoReverseMatch:  # StatusPost has no admin page (today): the id alone
            return post[1], None

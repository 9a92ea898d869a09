"""`notify()`: the one way anything in Ersen Ops tells anyone anything.

It records one NotificationDelivery per channel in the caller's transaction
and queues the sending after commit; the caller never waits on the network.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from ersen_ops.audit.services import record
from ersen_ops.core.queue import enqueue_on_commit
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.models import NotificationDelivery

SEND_TASK = "ersen_ops.notifications.tasks.send_delivery"


def notify(
    *,
    event: str,
    channels: Iterable[str],
    subject: str,
    body: str,
    related: models.Model | None = None,
    actor=None,
    extra_recipients: Iterable[str] = (),
    pager_action: str = "",
    dedup_key: str = "",
    severity: str = "",
) -> list[NotificationDelivery]:
    deliveries = []
    related_type = ContentType.objects.get_for_model(related) if related is not None else None
    with transaction.atomic():
        for channel in dict.fromkeys(channels):  # keep order, drop repeats
            if channel not in Channel.values:
                raise ValueError(f"unknown notification channel {channel!r}")
            delivery = NotificationDelivery.objects.create(
                event=event,
                channel=channel,
                subject=subject[:300],
                body=body,
                extra_recipients=list(extra_recipients),
                pager_action=pager_action,
                dedup_key=dedup_key,
                severity=severity,
                related_type=related_type,
                related_id=str(related.pk) if related is not None else "",
                status=DeliveryStatus.QUEUED,
            )
            record(
                actor=actor,
                action="notification.queued",
                target=delivery,
                data={"event": event, "channel": channel, "subject": delivery.subject, "related": str(related or "")},
            )
            enqueue_on_commit(SEND_TASK, delivery.pk)
            deliveries.append(delivery)
    return deliveries

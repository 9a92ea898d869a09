"""Reading deliveries."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models

from ersen_ops.notifications.models import NotificationDelivery


def deliveries_for(obj: models.Model):
    """Every delivery about `obj` (a window, an incident…), oldest first: one query."""
    ct = ContentType.objects.get_for_model(obj)
    return NotificationDelivery.objects.filter(related_type=ct, related_id=str(obj.pk)).order_by("created_at", "id")


def undelivered_counts(*, since) -> dict[str, int]:
    """{"failed": n, "skipped": n}: deliveries created since `since` that reached nobody (one query)."""
    from django.db.models import Count

    from ersen_ops.notifications.choices import DeliveryStatus

    counts = dict(
        NotificationDelivery.objects.filter(
            status__in=(DeliveryStatus.FAILED, DeliveryStatus.SKIPPED), created_at__gte=since
        )
        .values_list("status")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {
        DeliveryStatus.FAILED.value: counts.get("failed", 0),
        DeliveryStatus.SKIPPED.value: counts.get("skipped", 0),
    }


def undelivered_list_query(*, since) -> str:
    """The delivery list's query string showing exactly those deliveries."""
    from urllib.parse import urlencode

    return urlencode({"status__in": "failed,skipped", "created_at__gte": since.replace(microsecond=0).isoformat()})

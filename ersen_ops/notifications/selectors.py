"""Reading deliveries."""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType
from django.db import models

from ersen_ops.notifications.models import NotificationDelivery


def deliveries_for(obj: models.Model):
    """Every delivery about `obj` (a window, an incident…), oldest first: one query."""
    ct = ContentType.objects.get_for_model(obj)
    return NotificationDelivery.objects.filter(related_type=ct, related_id=str(obj.pk)).order_by("created_at", "id")

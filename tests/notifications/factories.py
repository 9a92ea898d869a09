"""Factories for notification tests."""

from __future__ import annotations

import factory

from ersen_ops.notifications.choices import Channel, DeliveryStatus
from ersen_ops.notifications.models import NotificationDelivery


class DeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = NotificationDelivery

    event = "maintenance.scheduled"
    channel = Channel.DISCORD
    target_name = "Discord webhook"
    subject = factory.Sequence(lambda n: f"Database upgrade {n}")
    body = "We upgrade PostgreSQL."
    message = factory.LazyAttribute(lambda d: f"**{d.subject}**\n\n{d.body}\n")
    status = DeliveryStatus.QUEUED

"""Notification channels and delivery states."""

from django.db import models


class Channel(models.TextChoices):
    STATUS_PAGE = "status_page", "Status page"
    EMAIL = "email", "Email"
    DISCORD = "discord", "Discord"
    SLACK = "slack", "Slack (alerts)"
    SLACK_TEAM_OPS = "slack_team_ops", "Slack #team-ops"
    PAGER = "pager", "Pager"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


DELIVERY_STATUS_COLOURS = {
    DeliveryStatus.QUEUED: "#616161",
    DeliveryStatus.SENT: "#2e7d32",
    DeliveryStatus.FAILED: "#c62828",
    DeliveryStatus.SKIPPED: "#9e9e9e",
}


class PagerAction(models.TextChoices):
    TRIGGER = "trigger", "Trigger"
    ACKNOWLEDGE = "acknowledge", "Acknowledge"
    RESOLVE = "resolve", "Resolve"

"""Notification channels, delivery states and the one transition table of a delivery's lifecycle."""

from django.db import models

from ersen_ops.core import choices as transitions


class Channel(models.TextChoices):
    STATUS_PAGE = "status_page", "Status page"
    EMAIL = "email", "Email"
    DISCORD = "discord", "Discord"
    SLACK = "slack", "Slack (alerts)"
    SLACK_TEAM_OPS = "slack_team_ops", "Slack #team-ops"
    PAGER = "pager", "Pager"


class SubscriberChannel(models.TextChoices):
    """Per-recipient channels of the subscribers app: one delivery = one message to one subscriber.

    Kept out of `Channel` on purpose: `Channel` is what `notify()` broadcasts to (and "all channels"
    means all of those); these are only ever created by the subscribers fan-out, and their senders
    are registered by that app (`channels.register_channel`).
    """

    SUBSCRIBER_EMAIL = "subscriber_email", "Subscriber email"
    SUBSCRIBER_WEBHOOK = "subscriber_webhook", "Subscriber webhook"


# Every value NotificationDelivery.channel may hold.
DELIVERY_CHANNEL_CHOICES = [*Channel.choices, *SubscriberChannel.choices]


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"


# queued → sending is the claim (a conditional UPDATE, so only one worker wins);
# sending → queued is a retry scheduled after a temporary failure, or a stale claim
# requeued by the sweeper after a crashed worker. sent/failed/skipped are final:
# a resend creates a new delivery linked to the old one.
DELIVERY_TRANSITIONS: dict[str, frozenset[str]] = {
    DeliveryStatus.QUEUED: frozenset({DeliveryStatus.SENDING}),
    DeliveryStatus.SENDING: frozenset(
        {DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED, DeliveryStatus.QUEUED}
    ),
    DeliveryStatus.SENT: frozenset(),
    DeliveryStatus.FAILED: frozenset(),
    DeliveryStatus.SKIPPED: frozenset(),
}

FINAL_STATUSES = frozenset({DeliveryStatus.SENT, DeliveryStatus.FAILED, DeliveryStatus.SKIPPED})

# A final delivery in one of these states may be resent (as a new, linked delivery).
RESENDABLE_STATUSES = frozenset({DeliveryStatus.FAILED, DeliveryStatus.SKIPPED})

DELIVERY_STATUS_COLOURS = {
    DeliveryStatus.QUEUED: "#616161",
    DeliveryStatus.SENDING: "#1565c0",
    DeliveryStatus.SENT: "#2e7d32",
    DeliveryStatus.FAILED: "#c62828",
    DeliveryStatus.SKIPPED: "#9e9e9e",
}


class PagerAction(models.TextChoices):
    TRIGGER = "trigger", "Trigger"
    ACKNOWLEDGE = "acknowledge", "Acknowledge"
    RESOLVE = "resolve", "Resolve"


class PagerSeverity(models.TextChoices):
    """PagerDuty Events API v2 `payload.severity` values."""

    CRITICAL = "critical", "Critical"
    ERROR = "error", "Error"
    WARNING = "warning", "Warning"
    INFO = "info", "Info"


def can_transition(current: str, new: str) -> bool:
    return transitions.can_transition(DELIVERY_TRANSITIONS, current, new)

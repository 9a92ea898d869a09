"""Subscriber, webhook and notice lifecycles: TextChoices, the one transition table of each, badge colours."""

from django.db import models

from ersen_ops.core.choices import can_transition  # noqa: F401 (the one rule; re-exported for callers of this module)


class SubscriberStatus(models.TextChoices):
    PENDING = "pending", "Waiting for confirmation"
    CONFIRMED = "confirmed", "Confirmed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"


# pending → confirmed: the confirmation link was followed (double opt-in).
# pending|confirmed → unsubscribed: the one-click link, the manage page, or an operator.
# unsubscribed → pending: the address subscribed again (a new confirmation is needed).
SUBSCRIBER_TRANSITIONS: dict[str, frozenset[str]] = {
    SubscriberStatus.PENDING: frozenset({SubscriberStatus.CONFIRMED, SubscriberStatus.UNSUBSCRIBED}),
    SubscriberStatus.CONFIRMED: frozenset({SubscriberStatus.UNSUBSCRIBED}),
    SubscriberStatus.UNSUBSCRIBED: frozenset({SubscriberStatus.PENDING}),
}

SUBSCRIBER_STATUS_COLOURS = {
    SubscriberStatus.PENDING: "#8a6100",
    SubscriberStatus.CONFIRMED: "#2e7d32",
    SubscriberStatus.UNSUBSCRIBED: "#9e9e9e",
}


class WebhookStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    DISABLED = "disabled", "Disabled"


# active → disabled: an operator, the unsubscribe link of a payload, or N consecutive failed attempts.
# disabled → active: an operator re-enables it (the failure count starts again from zero).
WEBHOOK_TRANSITIONS: dict[str, frozenset[str]] = {
    WebhookStatus.ACTIVE: frozenset({WebhookStatus.DISABLED}),
    WebhookStatus.DISABLED: frozenset({WebhookStatus.ACTIVE}),
}

WEBHOOK_STATUS_COLOURS = {WebhookStatus.ACTIVE: "#2e7d32", WebhookStatus.DISABLED: "#c62828"}


class NoticeKind(models.TextChoices):
    """What a notice tells subscribers (the issue's list), derived from the status-page event."""

    INCIDENT_OPENED = "incident_opened", "Incident opened"
    INCIDENT_UPDATED = "incident_updated", "Incident update"
    INCIDENT_RESOLVED = "incident_resolved", "Incident resolved"
    COMPONENT_STATUS = "component_status", "Component status changed"
    MAINTENANCE_SCHEDULED = "maintenance_scheduled", "Maintenance scheduled"
    MAINTENANCE_RESCHEDULED = "maintenance_rescheduled", "Maintenance rescheduled"
    MAINTENANCE_CHANGED = "maintenance_changed", "Maintenance changed"
    MAINTENANCE_REMINDER = "maintenance_reminder", "Maintenance reminder"
    MAINTENANCE_STARTED = "maintenance_started", "Maintenance started"
    MAINTENANCE_DELAYED = "maintenance_delayed", "Maintenance running long"
    MAINTENANCE_COMPLETED = "maintenance_completed", "Maintenance completed"
    MAINTENANCE_CANCELLED = "maintenance_cancelled", "Maintenance cancelled"


class NoticeStatus(models.TextChoices):
    FANNING_OUT = "fanning_out", "Fanning out"
    FANNED_OUT = "fanned_out", "Fanned out"


# fanning_out → fanned_out once every chunk has queued its deliveries (sending is then the
# notifications app's business: each delivery has its own status).
NOTICE_TRANSITIONS: dict[str, frozenset[str]] = {
    NoticeStatus.FANNING_OUT: frozenset({NoticeStatus.FANNED_OUT}),
    NoticeStatus.FANNED_OUT: frozenset(),
}

NOTICE_STATUS_COLOURS = {NoticeStatus.FANNING_OUT: "#1565c0", NoticeStatus.FANNED_OUT: "#2e7d32"}


class MessageKind(models.TextChoices):
    """Why one subscriber got one message."""

    CONFIRMATION = "confirmation", "Confirmation request"
    ALREADY_SUBSCRIBED = "already_subscribed", "Already subscribed"
    NOTICE = "notice", "Status notice"


class Audience(models.TextChoices):
    EMAIL = "email", "Email subscribers"
    WEBHOOK = "webhook", "Webhook subscribers"

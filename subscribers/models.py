"""Subscribers of the public status (email and webhook), what they are told (notices), and the bookkeeping of fan-out.

Models are thin: fields, constraints and small derived properties. Every state change goes
through `subscribers.services` (subscriptions, webhooks) or `subscribers.fanout` (notices).

Privacy: a subscriber's address lives only in `Subscriber.email`. Deliveries, audit events and
logs name the subscriber by its public id, so deleting the row erases the address everywhere.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.db import models
from django.db.models import Q

from ersen_ops.core.ids import public_id
from ersen_ops.core.validators import validate_single_line
from subscribers.choices import (
    Audience,
    MessageKind,
    NoticeKind,
    NoticeStatus,
    SubscriberStatus,
    WebhookStatus,
)


def subscriber_public_id() -> str:
    return public_id("sub_")


def webhook_public_id() -> str:
    return public_id("whk_")


def notice_public_id() -> str:
    return public_id("ntc_")


class Subscriber(models.Model):
    """An email address that asked for status updates (double opt-in)."""

    public_id = models.CharField(max_length=20, unique=True, default=subscriber_public_id, editable=False)
    email = models.EmailField(max_length=254, unique=True, help_text="Stored lower-cased.")
    status = models.CharField(
        max_length=20, choices=SubscriberStatus.choices, default=SubscriberStatus.PENDING, db_index=True
    )
    components = models.ManyToManyField(
        "status.Component",
        related_name="email_subscribers",
        blank=True,
        help_text="Components of interest; none = every component.",
    )
    # Part of every signed link: bumping it (on unsubscribe) kills the links of earlier emails.
    token_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    confirmation_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    confirmations_sent = models.PositiveIntegerField(default=0, editable=False)
    confirmed_at = models.DateTimeField(null=True, blank=True, editable=False)
    unsubscribed_at = models.DateTimeField(null=True, blank=True, editable=False)
    unsubscribed_via = models.CharField(max_length=60, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("export_subscriber", "Can export email subscribers to CSV"),
            ("unsubscribe_subscriber", "Can unsubscribe an email subscriber"),
        ]

    def __str__(self) -> str:
        # Never the address: this text lands in audit events, which cannot be erased.
        return f"subscriber {self.public_id}"


class WebhookSubscriber(models.Model):
    """An endpoint an operator registered for a partner or a chat bridge (Statuspage webhook format)."""

    public_id = models.CharField(max_length=20, unique=True, default=webhook_public_id, editable=False)
    name = models.CharField(
        max_length=100, validators=[validate_single_line], help_text="Who receives it, e.g. “Acme partner bridge”."
    )
    url = models.URLField(
        max_length=500,
        help_text="Where payloads are POSTed (https). Stored because it is this subscriber's address; "
        "its path is masked in errors and logs.",
    )
    contact = models.CharField(
        max_length=200,
        blank=True,
        validators=[validate_single_line],
        help_text="Whom to tell when it fails (name or email).",
    )
    components = models.ManyToManyField(
        "status.Component",
        related_name="webhook_subscribers",
        blank=True,
        help_text="Components of interest; none = every component.",
    )
    # Per-subscriber signing key (HMAC-SHA256 of each body). Subscriber data, not a deployment secret:
    # it must be stored to sign; it is shown once when generated and never displayed again.
    secret = models.CharField(max_length=128, editable=False)
    secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    status = models.CharField(
        max_length=10, choices=WebhookStatus.choices, default=WebhookStatus.ACTIVE, editable=False, db_index=True
    )
    consecutive_failures = models.PositiveIntegerField(default=0, editable=False)
    disabled_at = models.DateTimeField(null=True, blank=True, editable=False)
    disabled_reason = models.TextField(blank=True, editable=False)
    disabled_by_name = models.CharField(max_length=150, blank=True, editable=False)
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    last_response = models.CharField(max_length=300, blank=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = "webhook subscriber"
        permissions = [("enable_webhooksubscriber", "Can disable and re-enable subscriber webhooks")]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"

    @property
    def host(self) -> str:
        """Where it goes, without the path (which may carry a token)."""
        parts = urlsplit(self.url or "")
        return parts.netloc or "?"


class Notice(models.Model):
    """One thing subscribers are told: a status-page post or a component's status change, rendered once."""

    public_id = models.CharField(max_length=20, unique=True, default=notice_public_id, editable=False)
    kind = models.CharField(max_length=30, choices=NoticeKind.choices)
    event = models.CharField(max_length=100, help_text="The status-page event, e.g. maintenance.rescheduled")
    status = models.CharField(
        max_length=20, choices=NoticeStatus.choices, default=NoticeStatus.FANNING_OUT, db_index=True
    )
    status_post = models.OneToOneField(
        "status.StatusPost",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="subscriber_notice",
        help_text="The public post this notice repeats (one notice per post).",
    )
    related_type = models.ForeignKey("contenttypes.ContentType", null=True, blank=True, on_delete=models.SET_NULL)
    related_id = models.CharField(max_length=64, blank=True)
    related = GenericForeignKey("related_type", "related_id")
    related_public_id = models.CharField(max_length=20, blank=True, help_text="inc_…, mnt_… or cmp_…")
    subject = models.CharField(max_length=300)
    body = models.TextField(help_text="Markdown, as published")
    details = models.JSONField(default=dict, blank=True, help_text="Times, statuses and links shown in the email")
    component_ids = models.JSONField(default=list, blank=True, help_text="Affected components (groups expanded)")
    emails = models.BooleanField(default=True, help_text="Email subscribers receive it (webhooks always do)")
    # Text, not JSONField: PostgreSQL's jsonb reorders keys, and the body must keep Statuspage's key order.
    webhook_payload = models.TextField(blank=True, help_text="Statuspage webhook body without `meta` (JSON)")
    ics = models.TextField(blank=True, help_text="iCalendar attachment of maintenance emails")
    ics_sequence = models.PositiveIntegerField(null=True, blank=True)
    window_start = models.DateTimeField(null=True, blank=True, help_text="Maintenance: start as announced here")
    window_end = models.DateTimeField(null=True, blank=True, help_text="Maintenance: end as announced here")
    email_recipients = models.PositiveIntegerField(default=0)
    webhook_recipients = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    chunks_done = models.PositiveIntegerField(default=0)
    deliveries_queued = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    fanned_out_at = models.DateTimeField(null=True, blank=True)
    # The message rendered once for every recipient (notifications.DeliveryContent); deliveries hold only their own part.
    email_content = models.ForeignKey(
        "notifications.DeliveryContent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    webhook_content = models.ForeignKey(
        "notifications.DeliveryContent", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # After OPS_SUBSCRIBER_DELIVERY_DAYS the per-recipient rows are deleted and only these counts stay.
    reduced_counts = models.JSONField(
        default=dict, blank=True, help_text="Deliveries per channel and outcome, kept when the rows are reduced"
    )
    deliveries_reduced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["related_type", "related_id", "created_at"], name="notice_related_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"


class FanoutChunk(models.Model):
    """Up to OPS_SUBSCRIBER_FANOUT_CHUNK recipients of one notice: one task turns them into queued deliveries."""

    notice = models.ForeignKey(Notice, on_delete=models.CASCADE, related_name="chunks")
    audience = models.CharField(max_length=10, choices=Audience.choices)
    number = models.PositiveIntegerField()
    recipient_ids = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True)
    done_at = models.DateTimeField(null=True, blank=True)
    deliveries = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["notice_id", "audience", "number"]
        constraints = [
            models.UniqueConstraint(fields=["notice", "audience", "number"], name="fanoutchunk_unique_number"),
        ]
        indexes = [models.Index(fields=["done_at", "created_at"], name="fanoutchunk_pending_idx")]

    def __str__(self) -> str:
        return f"{self.notice.public_id} {self.audience} chunk {self.number}"


class SubscriberMessage(models.Model):
    """Which subscriber (or webhook) a NotificationDelivery of a subscriber channel goes to, and why."""

    delivery = models.OneToOneField(
        "notifications.NotificationDelivery", on_delete=models.PROTECT, related_name="subscriber_message"
    )
    kind = models.CharField(max_length=20, choices=MessageKind.choices)
    notice = models.ForeignKey(Notice, null=True, blank=True, on_delete=models.PROTECT, related_name="messages")
    # Indexed by message_subscriber_idx / message_webhook_idx (their first column), not twice.
    subscriber = models.ForeignKey(
        Subscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    webhook = models.ForeignKey(
        WebhookSubscriber, null=True, blank=True, on_delete=models.SET_NULL, related_name="messages", db_index=False
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A redelivered fan-out task never queues a second copy of a notice for the same recipient.
            models.UniqueConstraint(
                fields=["notice", "subscriber"],
                condition=Q(notice__isnull=False, subscriber__isnull=False),
                name="message_once_per_subscriber",
            ),
            models.UniqueConstraint(
                fields=["notice", "webhook"],
                condition=Q(notice__isnull=False, webhook__isnull=False),
                name="message_once_per_webhook",
            ),
        ]
        indexes = [
            # Partial: an email subscriber's row is not in the webhook index and the other way round.
            models.Index(
                fields=["subscriber", "created_at"],
                condition=Q(subscriber__isnull=False),
                name="message_subscriber_idx",
            ),
            models.Index(
                fields=["webhook", "created_at"], condition=Q(webhook__isnull=False), name="message_webhook_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.subscriber or self.webhook or 'erased recipient'}"


class ComponentState(models.Model):
    """The public status of a component as subscribers were last told (the baseline of change detection)."""

    component = models.OneToOneField("status.Component", on_delete=models.CASCADE, related_name="+")
    public_status = models.CharField(max_length=30)
    manual_status = models.CharField(max_length=30)
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.component_id}: {self.public_status}"


class RateLimitCounter(models.Model):
    """Subscribe requests per key (an address or a client network, HMAC-hashed) per time window.

    In the database, not the cache: the default cache is per process, and several gunicorn
    workers must share one count; an UPDATE … SET count = count + 1 is atomic everywhere.
    """

    key = models.CharField(max_length=64)
    window_start = models.DateTimeField()
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["key", "window_start"], name="ratelimit_unique_window")]
        indexes = [models.Index(fields=["window_start"], name="ratelimit_window_idx")]

    def __str__(self) -> str:
        return f"{self.key[:8]}… {self.window_start:%Y-%m-%d %H:%M} ×{self.count}"

"""NotificationDelivery: one message to one channel, and what became of it; DeliveryContent: a message rendered once
and shared by many deliveries (a notice to every subscriber)."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import Q

from ersen_ops.core.validators import validate_single_line
from ersen_ops.notifications.choices import DELIVERY_CHANNEL_CHOICES, DeliveryStatus, PagerAction


class DeliveryContent(models.Model):
    """The text of a message sent to many recipients, stored once (a notice to 100,000 subscribers is one row here).

    Per-recipient parts (signed links) are placeholders in `message` / `message_html`; the channel fills them in
    for each recipient at send time from the recipient's own row. A delivery pointing here keeps only what is its
    own (the recipient, the outcome); its `message` is empty. Deliveries sharing a content are sent in batches
    (sending.deliveries_send) and each batch's attempt is audited on this row.
    """

    event = models.CharField(max_length=100)
    channel = models.CharField(max_length=20, choices=DELIVERY_CHANNEL_CHOICES)
    subject = models.CharField(max_length=300, validators=[validate_single_line])
    body = models.TextField(blank=True, help_text="The text the caller wrote (before the channel's template)")
    message = models.TextField(blank=True, help_text="The text as sent, per-recipient links as placeholders")
    message_html = models.TextField(blank=True, help_text="HTML alternative (email only)")
    template_names = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "shared message"

    def __str__(self) -> str:
        return f"shared message #{self.pk}: {self.subject}"


class NotificationDelivery(models.Model):
    # Indexes are few on purpose (Meta.indexes, no varchar_pattern_ops copies): every version of every row of a
    # 100,000-recipient fan-out pays for each of them.
    event = models.CharField(max_length=100, help_text="What happened, e.g. maintenance.scheduled")
    channel = models.CharField(max_length=20, choices=DELIVERY_CHANNEL_CHOICES)
    target_name = models.CharField(
        max_length=200, blank=True, help_text="Where it goes, by name (never the secret URL)"
    )
    # Empty when the delivery shares a DeliveryContent (the subject is there, once).
    subject = models.CharField(max_length=300, blank=True, validators=[validate_single_line])
    body = models.TextField(blank=True, help_text="The text the caller wrote (before the channel's template)")
    message = models.TextField(
        blank=True, help_text="The text as sent, rendered for the channel (Markdown, Slack mrkdwn or plain text)"
    )
    message_html = models.TextField(blank=True, help_text="HTML alternative (email only)")
    template_names = models.CharField(max_length=300, blank=True, help_text="Templates the message was rendered from")
    extra_recipients = models.JSONField(default=list, blank=True)
    pager_action = models.CharField(max_length=20, choices=PagerAction.choices, blank=True)
    dedup_key = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=20, blank=True)
    related_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL, db_index=False)
    related_id = models.CharField(max_length=64, blank=True)
    related = GenericForeignKey("related_type", "related_id")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response = models.CharField(max_length=300, blank=True, help_text="HTTP status or SMTP reply")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When the next retry is due")
    last_attempt_at = models.DateTimeField(null=True, blank=True, help_text="When the latest attempt started")
    # Set by the claim (queued → sending); the attempt that finishes must hold it.
    claim_token = models.CharField(max_length=32, blank=True, editable=False)
    parts_total = models.PositiveSmallIntegerField(default=0, help_text="Messages the text was split into")
    parts_sent = models.PositiveSmallIntegerField(
        default=0, help_text="Parts already delivered (a retry continues from the next one)"
    )
    content = models.ForeignKey(
        DeliveryContent,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deliveries",
        help_text="The shared text of a message sent to many (the delivery's own text fields stay empty)",
    )
    resend_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        db_index=False,
        related_name="resends",
        help_text="The failed or skipped delivery this one resends",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "notification delivery"
        verbose_name_plural = "notification deliveries"
        permissions = [("resend_notificationdelivery", "Can resend a failed notification delivery")]
        indexes = [
            models.Index(fields=["related_type", "related_id"], name="delivery_related_idx"),
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due_idx"),
            models.Index(fields=["event"], name="delivery_event_idx"),
            # The admin's most used filter ("failed"), newest first: only the failed rows, so it costs writes nothing.
            models.Index(fields=["-id"], condition=Q(status="failed"), name="delivery_failed_idx"),
            models.Index(fields=["resend_of"], condition=Q(resend_of__isnull=False), name="delivery_resend_of_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.heading}"

    @property
    def heading(self) -> str:
        """The subject: the delivery's own, or the shared content's."""
        if not self.subject and self.content_id:
            return self.content.subject
        return self.subject

    @property
    def text(self) -> str:
        """The message as rendered for the channel (the shared text, placeholders and all, when there is one)."""
        if self.content_id:
            return self.content.message or self.content.body
        return self.message or self.body

    @property
    def text_html(self) -> str:
        return self.content.message_html if self.content_id else self.message_html


class DeliveredMark(models.Model):
    """A message of a batch the receiver accepted, written the moment it did (one tiny INSERT, before the next
    message goes) while the batch's outcomes are still to be recorded in bulk; deleted with that record.

    What the sweeper reads when a worker died mid-batch: a marked delivery is recorded as sent, never sent again.
    A side table rather than a column of the delivery, so a delivery row is written twice in its life (inserted,
    finished) instead of three times: a 100,000-recipient fan-out is mostly those rows and their indexes. Its
    rows live for about a second; the space of deleted ones is reused (autovacuum), so it does not grow.
    """

    delivery_id = models.BigIntegerField(primary_key=True)

    class Meta:
        verbose_name = "delivered mark"

    def __str__(self) -> str:
        return f"delivery #{self.delivery_id} delivered, outcome not yet recorded"

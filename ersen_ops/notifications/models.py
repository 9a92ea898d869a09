"""NotificationDelivery: one message to one channel, and what became of it."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models

from ersen_ops.notifications.choices import Channel, DeliveryStatus, PagerAction


class NotificationDelivery(models.Model):
    event = models.CharField(max_length=100, db_index=True, help_text="What happened, e.g. maintenance.scheduled")
    channel = models.CharField(max_length=20, choices=Channel.choices)
    target_name = models.CharField(max_length=200, blank=True, help_text="Where it goes, by name (never the secret URL)")
    subject = models.CharField(max_length=300)
    body = models.TextField()
    extra_recipients = models.JSONField(default=list, blank=True)
    pager_action = models.CharField(max_length=20, choices=PagerAction.choices, blank=True)
    dedup_key = models.CharField(max_length=200, blank=True)
    severity = models.CharField(max_length=20, blank=True)
    related_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.SET_NULL)
    related_id = models.CharField(max_length=64, blank=True, db_index=True)
    related = GenericForeignKey("related_type", "related_id")
    status = models.CharField(max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    response = models.CharField(max_length=300, blank=True, help_text="HTTP status or SMTP reply")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "notification delivery"
        verbose_name_plural = "notification deliveries"
        permissions = [("resend_notificationdelivery", "Can resend a failed notification delivery")]
        indexes = [models.Index(fields=["related_type", "related_id"], name="delivery_related_idx")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()}: {self.subject}"

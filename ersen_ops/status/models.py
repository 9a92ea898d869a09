"""Components of ersen.xyz, shared by maintenance windows, incidents and the public status API."""

from django.contrib.contenttypes.fields import GenericForeignKey
from django.db import models
from django.utils import timezone

from ersen_ops.core.ids import component_public_id
from ersen_ops.core.validators import validate_single_line
from ersen_ops.status.choices import ComponentStatus


class Component(models.Model):
    public_id = models.CharField(max_length=20, unique=True, default=component_public_id, editable=False)
    name = models.CharField(max_length=100, unique=True, validators=[validate_single_line])
    description = models.TextField(blank=True)
    group = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        limit_choices_to={"is_group": True},
        help_text="Optional component group this component belongs to.",
    )
    is_group = models.BooleanField(default=False, help_text="A group of components, shown with its children.")
    position = models.PositiveIntegerField(default=0, help_text="Display order (lowest first).")
    public = models.BooleanField(default=True, help_text="Shown on the public status page and API.")
    status = models.CharField(
        max_length=30,
        choices=ComponentStatus.choices,
        default=ComponentStatus.OPERATIONAL,
        help_text="Manual status; incidents and maintenance can make the public status worse, never better.",
    )
    showcase = models.BooleanField(default=False)
    only_show_if_degraded = models.BooleanField(default=False)
    start_date = models.DateField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name


def status_post_public_id() -> str:
    from ersen_ops.core.ids import public_id

    return public_id("upd_")


class StatusPost(models.Model):
    """One update published on the public status page: what the status page channel "sends".

    Created by the notifications app when a delivery to the status page channel is
    sent (idempotent: one post per delivery). The public feeds and the Statuspage
    API read these for maintenance updates; `related_*` points at the window or incident.
    """

    public_id = models.CharField(max_length=20, unique=True, default=status_post_public_id, editable=False)
    delivery = models.OneToOneField(
        "notifications.NotificationDelivery", on_delete=models.PROTECT, related_name="status_post"
    )
    related_type = models.ForeignKey("contenttypes.ContentType", null=True, blank=True, on_delete=models.SET_NULL)
    related_id = models.CharField(max_length=64, blank=True)
    related = GenericForeignKey("related_type", "related_id")
    event = models.CharField(max_length=100, db_index=True)
    subject = models.CharField(max_length=300)
    body = models.TextField(help_text="Markdown")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["related_type", "related_id", "created_at"], name="statuspost_related_idx")]

    def __str__(self) -> str:
        return f"{self.subject} ({self.public_id})"


class StatusVersion(models.Model):
    """The one row whose counter moves in the same transaction as every change the public status shows.

    Public documents are cached per version: each request reads this row (one primary-key
    lookup) and serves the cached bytes if the version has not moved. Because the bump is
    part of the changing transaction, the first request after the commit — in any process —
    already sees the new version. `changed_at_us` (microseconds since the epoch, never
    decreasing) is the documents' Last-Modified.
    """

    SINGLETON = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=SINGLETON, editable=False)
    version = models.BigIntegerField(default=0)
    changed_at_us = models.BigIntegerField(default=0, help_text="Microseconds since 1970-01-01 UTC")

    class Meta:
        verbose_name = "public status version"

    def __str__(self) -> str:
        return f"public status version {self.version}"


class CalendarSequence(models.Model):
    """The iCalendar SEQUENCE of one maintenance window (RFC 5545: bumped on every change of the event).

    Keyed by the window's public id. `fingerprint` hashes what the VEVENT shows (title, times,
    status, announcement); the receivers bump `sequence` when it differs, so a subscribed
    calendar follows reschedules and cancellations.
    """

    window_public_id = models.CharField(max_length=20, unique=True)
    sequence = models.PositiveIntegerField(default=0)
    fingerprint = models.CharField(max_length=64)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "calendar sequence"

    def __str__(self) -> str:
        return f"{self.window_public_id} SEQUENCE {self.sequence}"

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
    # Set only by `status.services.component_set_automatic_status` (called by the checks app, audited as
    # system:checks): what the component's health checks say. It can make the public status worse, never better.
    automatic_status = models.CharField(
        max_length=30,
        choices=ComponentStatus.choices,
        default=ComponentStatus.OPERATIONAL,
        editable=False,
        help_text="What the component's health checks say (set by the checks app, never by hand).",
    )
    automatic_status_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
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


class StatusInterval(models.Model):
    """One stretch of time during which a component's public status stayed the same.

    Written only by `ersen_ops.status.uptime.services.status_intervals_sync`, which compares the
    public status the page shows now with each component's open interval (`ended_at` empty) and
    closes / opens rows in one transaction. `in_maintenance`: a window on the component was in
    progress (that time counts as maintenance whatever the status, see the README's "Uptime history").
    """

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="status_intervals")
    status = models.CharField(max_length=30, choices=ComponentStatus.choices)
    in_maintenance = models.BooleanField(default=False)
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Empty while this is the current status.")

    class Meta:
        verbose_name = "status interval"
        ordering = ["component_id", "started_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["component"], condition=models.Q(ended_at__isnull=True), name="statusinterval_one_open"
            ),
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True) | models.Q(ended_at__gte=models.F("started_at")),
                name="statusinterval_ends_after_start",
            ),
        ]
        indexes = [
            models.Index(fields=["component", "started_at"], name="statusinterval_component_idx"),
            models.Index(fields=["ended_at"], name="statusinterval_ended_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.component_id} {self.status} from {self.started_at:%Y-%m-%d %H:%M:%S}"


class DailyUptime(models.Model):
    """Per component and day (in the page's time zone): seconds in each public status, and the worst one.

    Rolled up from `StatusInterval` by `uptime_rollup` (a schedule, and on demand). `unknown_seconds`:
    time with no recorded status (before history began, or a component created that day); it counts
    neither for nor against the uptime. The uptime percentage is computed from the seconds
    (`uptime.policy.uptime_percent`), so sums over many days weigh each second alike.
    """

    component = models.ForeignKey(Component, on_delete=models.CASCADE, related_name="daily_uptimes")
    day = models.DateField()
    operational_seconds = models.PositiveIntegerField(default=0)
    degraded_seconds = models.PositiveIntegerField(default=0)
    partial_seconds = models.PositiveIntegerField(default=0)
    major_seconds = models.PositiveIntegerField(default=0)
    maintenance_seconds = models.PositiveIntegerField(default=0)
    unknown_seconds = models.PositiveIntegerField(default=0)
    worst_status = models.CharField(max_length=30, choices=ComponentStatus.choices, blank=True)
    computed_at = models.DateTimeField(help_text="A row computed after the day ended is final.")

    class Meta:
        verbose_name = "daily uptime"
        ordering = ["component_id", "day"]
        constraints = [models.UniqueConstraint(fields=["component", "day"], name="dailyuptime_one_per_day")]
        indexes = [models.Index(fields=["day"], name="dailyuptime_day_idx")]

    def __str__(self) -> str:
        return f"{self.component_id} {self.day}"

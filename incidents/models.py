"""Incidents, their affected components, their public/internal update timeline and their level history.

Models are thin: fields, constraints and small derived properties. Every state change goes
through `incidents.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ersen_ops.core.ids import public_id
from ersen_ops.core.validators import validate_single_line
from incidents.choices import Impact, IncidentStatus, Level


def incident_public_id() -> str:
    return public_id("inc_")


def incident_update_public_id() -> str:
    return public_id("iup_")


class Incident(models.Model):
    public_id = models.CharField(max_length=20, unique=True, default=incident_public_id, editable=False)
    title = models.CharField(
        max_length=200, validators=[validate_single_line], help_text="Shown publicly if a public update is posted."
    )
    level = models.CharField(max_length=2, choices=Level.choices, db_index=True, editable=False)
    status = models.CharField(
        max_length=20,
        choices=IncidentStatus.choices,
        default=IncidentStatus.INVESTIGATING,
        editable=False,
        db_index=True,
    )
    components = models.ManyToManyField(
        "status.Component", through="IncidentComponent", related_name="incidents", blank=True
    )
    opened_at = models.DateTimeField(db_index=True, editable=False)
    opened_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    commander = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="commanded_incidents",
        editable=False,
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True, editable=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    resolved_at = models.DateTimeField(null=True, blank=True, editable=False)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    response_due_at = models.DateTimeField(editable=False, help_text="Acknowledgement is due by this time.")
    breached = models.BooleanField(default=False, editable=False, help_text="The response SLA was missed.")
    breached_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Paging state of P1s: when the current pager alert was triggered (None: no open alert),
    # the last page sent, and how many pages went out in total.
    pager_triggered_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_paged_at = models.DateTimeField(null=True, blank=True, editable=False)
    page_count = models.PositiveIntegerField(default=0, editable=False)
    maintenance_window = models.ForeignKey(
        "maintenance.MaintenanceWindow",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="incidents",
        editable=False,
        help_text="The maintenance window that caused this incident, if any.",
    )
    postmortem_summary = models.TextField(blank=True)
    postmortem_url = models.URLField(blank=True)
    internal_notes = models.TextField(blank=True, help_text="Never leaves the admin: not published, not notified.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        permissions = [
            ("acknowledge_incident", "Can acknowledge an incident"),
            ("resolve_incident", "Can resolve an incident"),
            ("change_level_incident", "Can change the level of an incident"),
            ("command_incident", "Can take or assign command of an incident"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(status=IncidentStatus.RESOLVED) & Q(resolved_at__isnull=False))
                | (~Q(status=IncidentStatus.RESOLVED) & Q(resolved_at__isnull=True)),
                name="incident_resolved_iff_resolved_at",
            ),
            models.CheckConstraint(
                condition=Q(breached=False) | Q(breached_at__isnull=False), name="incident_breach_has_time"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "level"], name="incident_status_level_idx"),
            models.Index(fields=["acknowledged_at", "response_due_at"], name="incident_ack_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.level} {self.title}"

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None

    @property
    def pager_open(self) -> bool:
        return self.pager_triggered_at is not None

    @property
    def dedup_key(self) -> str:
        """One pager alert per incident: trigger, acknowledge and resolve share this key."""
        return f"ersen-incident-{self.public_id}"


class IncidentComponent(models.Model):
    """A component affected by an incident, and how badly. While the incident is unresolved it sets the
    component's public status (the worst impact of all unresolved incidents wins)."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="component_impacts")
    component = models.ForeignKey("status.Component", on_delete=models.PROTECT, related_name="incident_impacts")
    impact = models.CharField(max_length=30, choices=Impact.choices)

    class Meta:
        ordering = ["component__position", "component__name"]
        constraints = [
            models.UniqueConstraint(fields=["incident", "component"], name="incident_component_once"),
        ]

    def __str__(self) -> str:
        return f"{self.component}: {self.get_impact_display()}"


class IncidentUpdate(models.Model):
    """One entry of the incident's timeline. Public ones are what the status page shows; the others stay in
    the admin."""

    public_id = models.CharField(max_length=20, unique=True, default=incident_update_public_id, editable=False)
    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="updates")
    status = models.CharField(max_length=20, choices=IncidentStatus.choices)
    body = models.TextField()
    public = models.BooleanField(default=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    author_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["incident", "public", "created_at"], name="incident_update_public_idx")]

    def __str__(self) -> str:
        return f"{self.incident.public_id} {self.get_status_display()} @ {self.created_at:%Y-%m-%d %H:%M}"


class LevelChange(models.Model):
    """One change of an incident's level: who, when, old → new, why, and what it did to the due time."""

    incident = models.ForeignKey(Incident, on_delete=models.CASCADE, related_name="level_changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    changed_by_name = models.CharField(max_length=150)
    changed_at = models.DateTimeField()
    old_level = models.CharField(max_length=2, choices=Level.choices)
    new_level = models.CharField(max_length=2, choices=Level.choices)
    reason = models.TextField()
    old_response_due_at = models.DateTimeField()
    new_response_due_at = models.DateTimeField()

    class Meta:
        ordering = ["changed_at", "id"]

    def __str__(self) -> str:
        return f"{self.incident.public_id}: {self.old_level} → {self.new_level}"


class SprintQueueIncident(Incident):
    """The current sprint's queue: unresolved P3 incidents (an admin list over the same table)."""

    class Meta:
        proxy = True
        verbose_name = "current-sprint incident (P3)"
        verbose_name_plural = "current sprint (P3)"


class BacklogIncident(Incident):
    """The backlog: unresolved P4 incidents, due by the end of the next sprint."""

    class Meta:
        proxy = True
        verbose_name = "backlog incident (P4)"
        verbose_name_plural = "backlog (P4)"

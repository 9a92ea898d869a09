"""Maintenance windows, their ETA history, freeze periods, checklist templates, checklist items and approvals.

Models are thin: fields, constraints and small derived properties. Every state
change goes through `maintenance.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Q

from ersen_ops.core.choices import Phase
from ersen_ops.core.ids import public_id
from ersen_ops.core.validators import validate_single_line
from maintenance.choices import ChecklistPhase, ItemKey, MaintenanceType, WindowStatus


def window_public_id() -> str:
    return public_id("mnt_")


class MaintenanceWindow(models.Model):
    public_id = models.CharField(max_length=20, unique=True, default=window_public_id, editable=False)
    title = models.CharField(max_length=200, validators=[validate_single_line])
    type = models.CharField(max_length=20, choices=MaintenanceType.choices, default=MaintenanceType.ROUTINE)
    status = models.CharField(
        max_length=20, choices=WindowStatus.choices, default=WindowStatus.DRAFT, editable=False, db_index=True
    )
    planned_start = models.DateTimeField(
        db_index=True, help_text="Stored in UTC; the slot rule is checked in Pacific time."
    )
    planned_end = models.DateTimeField()
    eta = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Current estimated completion (history in ETA changes)."
    )
    actual_start = models.DateTimeField(null=True, blank=True, editable=False)
    actual_end = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text='Set when every "after" checklist item is done.'
    )
    announced_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the window was scheduled and announced."
    )
    impact = models.TextField(help_text="What users will experience.")
    reason = models.TextField(help_text="Brief explanation.")
    rollback_plan = models.TextField(blank=True)
    components = models.ManyToManyField("status.Component", related_name="maintenance_windows", blank=True)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="owned_maintenance_windows",
    )
    on_call_engineer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="on_call_maintenance_windows",
    )
    cancellation_reason = models.TextField(blank=True, editable=False)
    # Emergency windows: why the notice/slot/freeze rules or the open "before" items were overridden.
    emergency_justification = models.TextField(blank=True, editable=False)
    # The site phase the window was scheduled under (decides which rules applied).
    scheduled_phase = models.CharField(max_length=20, choices=Phase.choices, blank=True, editable=False)
    announcement = models.TextField(blank=True, editable=False, help_text="The announcement as published.")
    summary = models.TextField(blank=True, editable=False, help_text="Post-maintenance summary, as sent to #team-ops.")
    reminder_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    overdue_since = models.DateTimeField(null=True, blank=True, editable=False)
    # The ETA value whose overrun was last announced (one notification per overrun).
    overdue_notified_eta = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-planned_start", "-id"]
        permissions = [("transition_maintenancewindow", "Can move a maintenance window through its lifecycle")]
        constraints = [
            models.CheckConstraint(condition=Q(planned_end__gt=F("planned_start")), name="window_end_after_start"),
        ]
        indexes = [models.Index(fields=["status", "planned_start"], name="window_status_start_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def planned_duration(self):
        if self.planned_start and self.planned_end:
            return self.planned_end - self.planned_start
        return None

    @property
    def actual_duration(self):
        if self.actual_start and self.actual_end:
            return self.actual_end - self.actual_start
        return None

    def is_overdue(self, now) -> bool:
        return self.status == WindowStatus.IN_PROGRESS and self.eta is not None and self.eta < now


class EtaChange(models.Model):
    """One change of a window's estimated completion: who, when, old → new, why. Never edited."""

    window = models.ForeignKey(MaintenanceWindow, on_delete=models.CASCADE, related_name="eta_changes")
    changed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    changed_by_name = models.CharField(max_length=150)
    changed_at = models.DateTimeField()
    old_eta = models.DateTimeField(null=True, blank=True)
    new_eta = models.DateTimeField()
    reason = models.TextField()

    class Meta:
        ordering = ["changed_at", "id"]
        verbose_name = "ETA change"

    def __str__(self) -> str:
        return f"{self.window}: {self.old_eta} → {self.new_eta}"


class FreezePeriod(models.Model):
    """No routine or urgent window may touch a freeze; emergency only with a justification."""

    name = models.CharField(max_length=200, validators=[validate_single_line])
    start = models.DateTimeField()
    end = models.DateTimeField()
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["start"]
        constraints = [models.CheckConstraint(condition=Q(end__gt=F("start")), name="freeze_end_after_start")]

    def __str__(self) -> str:
        return self.name


class ChecklistTemplate(models.Model):
    """The checklist of one phase, copied into each window when it is scheduled."""

    phase = models.CharField(max_length=10, choices=ChecklistPhase.choices, unique=True)
    title = models.CharField(max_length=200, validators=[validate_single_line])

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class ChecklistTemplateItem(models.Model):
    template = models.ForeignKey(ChecklistTemplate, on_delete=models.CASCADE, related_name="items")
    order = models.PositiveIntegerField(default=0)
    text = models.CharField(max_length=300, validators=[validate_single_line])
    key = models.CharField(
        max_length=40,
        choices=ItemKey.choices,
        blank=True,
        help_text="Which built-in rule or automation applies to this item (blank: a plain manual item).",
    )
    required_approvals = models.PositiveSmallIntegerField(default=1)

    class Meta:
        ordering = ["template", "order", "id"]

    def __str__(self) -> str:
        return self.text


class ChecklistItem(models.Model):
    window = models.ForeignKey(MaintenanceWindow, on_delete=models.CASCADE, related_name="checklist_items")
    phase = models.CharField(max_length=10, choices=ChecklistPhase.choices)
    order = models.PositiveIntegerField(default=0)
    text = models.CharField(max_length=300, validators=[validate_single_line])
    key = models.CharField(max_length=40, choices=ItemKey.choices, blank=True)
    required_approvals = models.PositiveSmallIntegerField(default=1)
    # Maintained by the approval services: set when live approvals reach required_approvals.
    done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["window", "order", "id"]
        permissions = [("approve_checklistitem", "Can approve maintenance checklist items")]
        indexes = [models.Index(fields=["window", "phase"], name="checklist_window_phase_idx")]

    def __str__(self) -> str:
        return self.text

    @property
    def is_done(self) -> bool:
        return self.done_at is not None


class Approval(models.Model):
    """One approval of one checklist item by one user or a named system actor. Revoked, never deleted."""

    item = models.ForeignKey(ChecklistItem, on_delete=models.CASCADE, related_name="approvals")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="checklist_approvals"
    )
    actor_name = models.CharField(max_length=150, help_text="Username, or a system actor such as system:maintenance")
    approved_at = models.DateTimeField()
    note = models.TextField(blank=True)
    evidence_url = models.URLField(blank=True, max_length=500)
    evidence_type = models.ForeignKey(ContentType, null=True, blank=True, on_delete=models.PROTECT)
    evidence_id = models.CharField(max_length=64, blank=True)
    evidence = GenericForeignKey("evidence_type", "evidence_id")
    evidence_summary = models.TextField(blank=True, help_text="What the evidence showed, copied at approval time.")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["approved_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["item", "user"],
                condition=Q(revoked_at__isnull=True, user__isnull=False),
                name="one_live_approval_per_user_per_item",
                violation_error_message="This user has already approved this item.",
            ),
            models.UniqueConstraint(
                fields=["item", "actor_name"],
                condition=Q(revoked_at__isnull=True, user__isnull=True),
                name="one_live_system_approval_per_item",
                violation_error_message="This system actor has already approved this item.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item} — {self.actor_name}"

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None


class ApprovalRevocation(models.Model):
    """The revocation of one approval, as its own row (the approval itself is kept)."""

    approval = models.OneToOneField(Approval, on_delete=models.CASCADE, related_name="revocation")
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    revoked_by_name = models.CharField(max_length=150)
    revoked_at = models.DateTimeField()
    reason = models.TextField()

    class Meta:
        ordering = ["revoked_at", "id"]

    def __str__(self) -> str:
        return f"Revoked: {self.approval}"

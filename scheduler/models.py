"""Schedules (a runbook, a target, parameters and a cron expression in the team's zone), their occurrences (one row
per schedule × due time) and the global pause switch."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from ersen_ops.core.validators import validate_single_line
from scheduler.choices import Outcome


class Schedule(models.Model):
    name = models.CharField(max_length=200, unique=True, validators=[validate_single_line])
    runbook = models.ForeignKey("runbooks.Runbook", on_delete=models.PROTECT, related_name="schedules")
    host = models.ForeignKey(
        "runbooks.Host",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="schedules",
        help_text="The host the runbook runs on (or choose a host group).",
    )
    host_group = models.ForeignKey(
        "runbooks.HostGroup",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="schedules",
        help_text="Or every enabled host of a group, in batches (batch size, max failures below).",
    )
    overrides = models.JSONField(
        default=dict,
        blank=True,
        help_text='Parameter overrides, as a launch takes them, e.g. {"service": "traefik"}; checked against the '
        "runbook's steps when saved.",
    )
    cron = models.CharField(
        "cron expression",
        max_length=100,
        help_text="5 fields: minute hour day-of-month month day-of-week, in the team's zone (OPS_MAINTENANCE_TZ, "
        "Pacific), e.g. “0 3 * * *” every night at 03:00, “0 4 * * sun” Sundays at 04:00. DST: a time in the "
        "spring-forward gap runs once at 03:00; a time in the repeated fall-back hour runs once (the first).",
    )
    enabled = models.BooleanField(default=True)
    catch_up = models.BooleanField(
        default=False,
        help_text="When due times were missed (the worker was down), run the latest one once when the worker is "
        "back; otherwise they are only recorded as missed.",
    )
    batch_size = models.PositiveIntegerField(default=1, help_text="Host group targets: hosts at a time.")
    max_failures = models.PositiveIntegerField(
        default=1, help_text="Host group targets: stop after this many failed hosts."
    )
    skip_dates = models.JSONField(
        default=list,
        blank=True,
        help_text="Dates (in the team's zone) on which this schedule does not run, e.g. 2026-12-24.",
    )
    evaluated_until = models.DateTimeField(
        help_text="Due times up to here have been decided (ran, skipped or missed); the tick continues from here."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_by_name = models.CharField(max_length=150, blank=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(host__isnull=False, host_group__isnull=True)
                | Q(host__isnull=True, host_group__isnull=False),
                name="schedule_host_xor_group",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def target_name(self) -> str:
        if self.host_id:
            return self.host.name
        return f"group {self.host_group.name}" if self.host_group_id else ""


class Occurrence(models.Model):
    """One due time of one schedule, decided once (the unique constraint makes racing ticks record it once)."""

    schedule = models.ForeignKey(Schedule, on_delete=models.PROTECT, related_name="occurrences")
    due_at = models.DateTimeField(db_index=True)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    catch_up = models.BooleanField(
        default=False, help_text="The one run made for missed due times when the worker came back."
    )
    reason = models.TextField(blank=True, help_text="Skipped or missed: the rule, in words.")
    execution = models.ForeignKey(
        "runbooks.RunbookExecution", on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrences"
    )
    group_run = models.ForeignKey(
        "runbooks.GroupRun", on_delete=models.SET_NULL, null=True, blank=True, related_name="occurrences"
    )
    recorded_at = models.DateTimeField()

    class Meta:
        ordering = ["-due_at"]
        constraints = [models.UniqueConstraint(fields=["schedule", "due_at"], name="occurrence_once_per_due_time")]
        indexes = [models.Index(fields=["schedule", "-due_at"], name="occurrence_schedule_due")]

    def __str__(self) -> str:
        return f"{self.schedule} at {self.due_at:%Y-%m-%d %H:%M} UTC: {self.get_outcome_display().lower()}"


class SchedulerSwitch(models.Model):
    """The global pause: one row. Paused, due occurrences are recorded as skipped (never missed, never caught up)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    paused = models.BooleanField(default=False)
    paused_at = models.DateTimeField(null=True, blank=True)
    paused_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    paused_by_name = models.CharField(max_length=150, blank=True)
    reason = models.TextField(blank=True)

    class Meta:
        verbose_name = "pause switch"
        verbose_name_plural = "pause all schedules"
        permissions = [("pause_schedules", "Can pause and resume all schedules")]
        constraints = [models.CheckConstraint(condition=Q(id=1), name="scheduler_switch_singleton")]

    def __str__(self) -> str:
        return f"All schedules paused by {self.paused_by_name}" if self.paused else "Schedules running"

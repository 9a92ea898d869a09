"""Health checks: what to probe, their results (raw, kept OPS_CHECK_RAW_DAYS; rolled up per hour and day), the
incidents they opened, and the checklist evidence they gave.

The lease fields (`next_due_at`, `leased_by`, `lease_until`) are how several checker processes share the work: a
checker claims due checks with `FOR UPDATE SKIP LOCKED`, runs them, and writes back the next due time; a checker that
dies leaves leases that expire, and another one takes its checks (see checks/engine.py).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from ersen_ops.core.validators import validate_single_line
from ersen_ops.status.choices import ComponentStatus

from .choices import AutomationState, CheckState, CheckType, HeartbeatSource, HttpMethod, RollupPeriod

MIN_INTERVAL_SECONDS = 10


class Check(models.Model):
    name = models.CharField(max_length=120, unique=True, validators=[validate_single_line])
    type = models.CharField(max_length=10, choices=CheckType.choices, default=CheckType.HTTP)
    enabled = models.BooleanField(default=True)
    components = models.ManyToManyField("status.Component", related_name="checks", blank=True)
    interval_seconds = models.PositiveIntegerField(
        default=60, validators=[MinValueValidator(MIN_INTERVAL_SECONDS)], help_text="At least 10 s."
    )
    timeout_seconds = models.FloatField(default=10, validators=[MinValueValidator(0.1), MaxValueValidator(120)])
    failures_to_down = models.PositiveSmallIntegerField(
        default=3, validators=[MinValueValidator(1)], help_text="Consecutive failures that make the check down."
    )
    successes_to_up = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1)], help_text="Consecutive passes that make a down check up again."
    )
    down_status = models.CharField(
        max_length=30,
        choices=[c for c in ComponentStatus.choices if c[0] not in ("operational", "under_maintenance")],
        default=ComponentStatus.MAJOR_OUTAGE,
        help_text="The automatic status of its components while the check is down.",
    )

    # HTTP(S)
    url = models.URLField(max_length=500, blank=True, help_text="HTTP(S) checks: the address to request.")
    method = models.CharField(max_length=6, choices=HttpMethod.choices, default=HttpMethod.GET)
    expected_status = models.PositiveSmallIntegerField(default=200)
    body_contains = models.CharField(max_length=300, blank=True)
    body_regex = models.CharField(max_length=300, blank=True, help_text="Python regular expression the body must match.")
    latency_limit_ms = models.PositiveIntegerField(null=True, blank=True, help_text="Slower than this is a failure.")
    max_redirects = models.PositiveSmallIntegerField(default=5, validators=[MaxValueValidator(20)])
    # HTTPS and TLS
    cert_warning_days = models.PositiveSmallIntegerField(
        default=14, help_text="HTTPS and TLS checks: a certificate expiring sooner than this is a failure."
    )
    # TCP and TLS
    host = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)])
    # Heartbeat: the job calls /checks/heartbeat/<heartbeat_id>/<secret>/; only a hash of the secret is stored.
    heartbeat_id = models.CharField(max_length=24, blank=True, db_index=True)
    heartbeat_secret_hash = models.CharField(max_length=64, blank=True)
    heartbeat_period_seconds = models.PositiveIntegerField(null=True, blank=True)
    heartbeat_grace_seconds = models.PositiveIntegerField(default=300)
    heartbeat_source = models.CharField(
        max_length=20,
        choices=HeartbeatSource.choices,
        default=HeartbeatSource.URL,
        help_text="Heartbeat checks: a job calling the secret URL, or every verified backup that also has a verified "
        "off-host copy (the runbooks record it: the backup freshness check, period OPS_BACKUP_MAX_AGE_HOURS).",
    )
    last_ping_at = models.DateTimeField(null=True, blank=True)

    # Automation
    open_incident = models.BooleanField(default=False, help_text="Open an incident when the check goes down.")
    incident_level = models.CharField(max_length=2, choices=[(f"P{i}", f"P{i}") for i in range(1, 5)], default="P2")
    incident_first_update_public = models.BooleanField(
        default=False, help_text="Publish the incident's first update on the status page."
    )
    resolve_after_quiet_minutes = models.PositiveIntegerField(
        default=10, help_text="Resolve the incident when the check has been up this long."
    )

    # State (written by the checker through the services)
    state = models.CharField(max_length=10, choices=CheckState.choices, default=CheckState.UNKNOWN)
    state_changed_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    consecutive_successes = models.PositiveIntegerField(default=0)
    last_result_at = models.DateTimeField(null=True, blank=True)
    last_passed = models.BooleanField(null=True, blank=True)
    last_message = models.TextField(blank=True)
    last_latency_ms = models.PositiveIntegerField(null=True, blank=True)

    # Lease (how checkers share the work)
    next_due_at = models.DateTimeField(default=timezone.now)
    leased_by = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["next_due_at"], condition=Q(enabled=True), name="check_due_idx"),
            models.Index(fields=["state"], name="check_state_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self):
        problems = []
        if self.timeout_seconds and self.interval_seconds and self.timeout_seconds >= self.interval_seconds:
            problems.append(
                f"The timeout ({self.timeout_seconds:g} s) must be shorter than the interval ({self.interval_seconds} s)."
            )
        if self.type == CheckType.HTTP and not self.url:
            problems.append("An HTTP(S) check needs a URL.")
        if self.type in (CheckType.TCP, CheckType.TLS) and (not self.host or not self.port):
            problems.append("A TCP or TLS check needs a host and a port.")
        if self.type == CheckType.HEARTBEAT and not self.heartbeat_period_seconds:
            problems.append("A heartbeat check needs a period (how often the job calls).")
        if self.body_regex:
            import re

            try:
                re.compile(self.body_regex)
            except re.error as exc:
                problems.append(f"The regular expression {self.body_regex!r} is not valid: {exc}.")
        if problems:
            raise ValidationError(problems)

    @property
    def target(self) -> str:
        if self.type == CheckType.HTTP:
            return self.url
        if self.type in (CheckType.TCP, CheckType.TLS):
            return f"{self.host}:{self.port}"
        return f"heartbeat every {self.heartbeat_period_seconds or '?'} s"


class CheckResult(models.Model):
    """One probe's outcome (raw; kept OPS_CHECK_RAW_DAYS, then only the rollups remain). Written in batches."""

    id = models.BigAutoField(primary_key=True)
    health_check = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="results")
    at = models.DateTimeField(help_text="When the probe finished.")
    due_at = models.DateTimeField(null=True, blank=True, help_text="When it was due (lag = started − due).")
    lag_ms = models.IntegerField(null=True, blank=True)
    passed = models.BooleanField()
    in_maintenance = models.BooleanField(default=False)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    message = models.TextField(blank=True)
    checker = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["health_check", "-at"], name="checkresult_check_at_idx"),
                   models.Index(fields=["at"], name="checkresult_at_idx")]

    def __str__(self) -> str:
        return f"{self.health_check_id} {'passed' if self.passed else 'failed'} at {self.at:%Y-%m-%d %H:%M:%S}"


class CheckRollup(models.Model):
    """Results of one check over one hour or one day (kept much longer than the raw results)."""

    health_check = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="rollups")
    period = models.CharField(max_length=4, choices=RollupPeriod.choices)
    start = models.DateTimeField()
    total = models.PositiveIntegerField(default=0)
    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    in_maintenance = models.PositiveIntegerField(default=0)
    latency_sum_ms = models.BigIntegerField(default=0)
    latency_max_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["health_check", "period", "-start"]
        constraints = [models.UniqueConstraint(fields=["health_check", "period", "start"], name="one_rollup_per_period")]
        indexes = [models.Index(fields=["period", "start"], name="checkrollup_period_start_idx")]

    def __str__(self) -> str:
        return f"{self.health_check_id} {self.period} {self.start:%Y-%m-%d %H:%M}"


class CheckIncident(models.Model):
    """An incident the checks opened for one outage of one check, and how far the automation took it."""

    health_check = models.ForeignKey(Check, on_delete=models.CASCADE, related_name="automated_incidents")
    incident = models.OneToOneField("incidents.Incident", on_delete=models.PROTECT, related_name="check_automation")
    state = models.CharField(max_length=12, choices=AutomationState.choices, default=AutomationState.OPEN)
    opened_at = models.DateTimeField()
    recovered_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Resolved by the checks or taken over.")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["health_check"], condition=Q(closed_at__isnull=True), name="one_open_automated_incident_per_check"
            )
        ]

    def __str__(self) -> str:
        return f"{self.health_check} → incident {self.incident_id} ({self.state})"


class CheckEvidence(models.Model):
    """What the checks showed for one checklist item of one window: every check of its components passed N times."""

    window = models.ForeignKey("maintenance.MaintenanceWindow", on_delete=models.CASCADE, related_name="check_evidence")
    item_key = models.CharField(max_length=40)
    created_at = models.DateTimeField(default=timezone.now)
    since = models.DateTimeField(help_text="Passes counted from this moment (the window's start or completion).")
    passes_required = models.PositiveSmallIntegerField()
    summary = models.TextField()
    results = models.JSONField(default=list, help_text="Per check: name, id and the passing results' ids and times.")

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["window", "item_key"], name="one_check_evidence_per_item")]
        verbose_name_plural = "check evidence"

    def __str__(self) -> str:
        return f"Check evidence for {self.item_key} of window {self.window_id}"

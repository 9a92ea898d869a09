"""Alert integrations (each with its own token), the rules that map labels to components and a level, the groups that
become one incident per outage, and every alert received.

Thin models; every change goes through `alerting.services`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from alerting.choices import AlertStatus, GroupStatus, Outcome, Source
from ersen_ops.core.validators import validate_single_line
from incidents.choices import Impact, Level


class AlertIntegration(models.Model):
    """One sender of alerts (an Alertmanager receiver, a Grafana contact point) and its bearer token."""

    name = models.CharField(max_length=100, unique=True, validators=[validate_single_line])
    source = models.CharField(max_length=20, choices=Source.choices)
    token_prefix = models.CharField(
        max_length=16, unique=True, editable=False, help_text="The token's visible start, to recognise it."
    )
    token_hash = models.CharField(max_length=64, editable=False)
    active = models.BooleanField(default=True, editable=False)
    default_level = models.CharField(
        max_length=2, choices=Level.choices, default=Level.P2, help_text="The level when no rule matches an alert."
    )
    quiet_minutes = models.PositiveIntegerField(
        default=10,
        help_text="After every alert of a group resolved, the incident waits in “monitoring” this long "
        "without a new firing alert before it is resolved.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    token_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_used_from = models.GenericIPAddressField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        permissions = [("manage_token_alertintegration", "Can rotate and revoke alert integration tokens")]

    def __str__(self) -> str:
        return self.name

    @property
    def actor_name(self) -> str:
        """How audit events and incidents name this integration: the system acting on its behalf, with the token's
        visible prefix (a system actor, so the incident services' own rules apply as to any other sender)."""
        return f"system:alerts:{self.name} ({self.token_prefix})"[:150]


class AlertRule(models.Model):
    """Alerts whose labels carry every one of `matchers` affect `components` with `impact` at `level`.
    The first matching rule by position wins."""

    integration = models.ForeignKey(
        AlertIntegration,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rules",
        help_text="Blank: applies to every integration.",
    )
    position = models.PositiveIntegerField(default=0, help_text="Lowest first; the first matching rule wins.")
    name = models.CharField(max_length=200, validators=[validate_single_line])
    matchers = models.JSONField(
        default=dict,
        blank=True,
        help_text='Labels and their exact values, e.g. {"service": "api", "severity": "critical"}; '
        "an alert matches when it carries all of them ({} matches every alert).",
    )
    components = models.ManyToManyField("status.Component", related_name="alert_rules", blank=True)
    impact = models.CharField(max_length=30, choices=Impact.choices, default=Impact.PARTIAL_OUTAGE)
    level = models.CharField(max_length=2, choices=Level.choices, default=Level.P2)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name


class AlertGroup(models.Model):
    """One outage as the sender groups it (Alertmanager's / Grafana's group key): at most one incident."""

    integration = models.ForeignKey(AlertIntegration, on_delete=models.PROTECT, related_name="groups")
    group_key = models.CharField(max_length=1000)
    status = models.CharField(max_length=10, choices=GroupStatus.choices, default=GroupStatus.FIRING, db_index=True)
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.PROTECT, related_name="alert_groups"
    )
    firing = models.JSONField(default=list, blank=True, help_text="Fingerprints of the alerts firing now.")
    opened_at = models.DateTimeField()
    quiet_since = models.DateTimeField(null=True, blank=True, help_text="When the last firing alert resolved.")
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "group_key"],
                condition=~Q(status=GroupStatus.CLOSED),
                name="one_open_alert_group_per_key",
            )
        ]
        indexes = [models.Index(fields=["status", "quiet_since"], name="alertgroup_status_quiet_idx")]

    def __str__(self) -> str:
        return f"{self.integration}: {self.group_key}"


class ReceivedAlert(models.Model):
    """One alert as received in one notification, and what it did. Never edited."""

    integration = models.ForeignKey(AlertIntegration, on_delete=models.PROTECT, related_name="received_alerts")
    received_at = models.DateTimeField(db_index=True)
    notification_id = models.CharField(max_length=32, db_index=True, help_text="Alerts of one webhook call share it.")
    group = models.ForeignKey(AlertGroup, null=True, blank=True, on_delete=models.PROTECT, related_name="alerts")
    group_key = models.CharField(max_length=1000, blank=True)
    fingerprint = models.CharField(max_length=200, db_index=True)
    status = models.CharField(max_length=10, choices=AlertStatus.choices)
    alertname = models.CharField(max_length=300, blank=True)
    labels = models.JSONField(default=dict)
    annotations = models.JSONField(default=dict)
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    generator_url = models.CharField(max_length=1000, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    detail = models.TextField(blank=True, help_text="Why, in words.")
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    incident = models.ForeignKey(
        "incidents.Incident", null=True, blank=True, on_delete=models.PROTECT, related_name="received_alerts"
    )
    window = models.ForeignKey(
        "maintenance.MaintenanceWindow",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="suppressed_alerts",
        help_text="The in-progress window that suppressed it.",
    )

    class Meta:
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["integration", "fingerprint", "received_at"], name="received_alert_fp_idx")]

    def __str__(self) -> str:
        return f"{self.alertname or self.fingerprint} ({self.get_status_display().lower()})"

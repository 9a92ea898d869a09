"""Site-wide records: the site settings row, worker heartbeats, task delivery counts."""

from django.db import models

from ersen_ops.core.choices import Phase


class SiteSettings(models.Model):
    """One row: settings that operators change at run time (each change audited)."""

    phase = models.CharField(max_length=20, choices=Phase.choices, default=Phase.POSTLAUNCH)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "site settings"
        verbose_name_plural = "site settings"
        constraints = [models.CheckConstraint(condition=models.Q(id=1), name="site_settings_single_row")]

    def __str__(self) -> str:
        return f"Site settings ({self.get_phase_display()})"


class WorkerHeartbeat(models.Model):
    """Last sign of life of a django-q worker, for /readyz and the dashboard."""

    name = models.CharField(max_length=100, unique=True)
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class TaskDelivery(models.Model):
    """How often django-q delivered one task id (redeliveries after a dead worker included)."""

    task_id = models.CharField(max_length=64, unique=True)
    func = models.CharField(max_length=200)
    deliveries = models.PositiveIntegerField(default=1)
    first_delivered_at = models.DateTimeField(auto_now_add=True)
    last_delivered_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.func} ×{self.deliveries}"

"""State changes of site-wide records."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from ersen_ops.audit.services import record
from ersen_ops.core.choices import Phase
from ersen_ops.core.errors import DomainError
from ersen_ops.core.models import SiteSettings, TaskDelivery, WorkerHeartbeat


def site_settings_get() -> SiteSettings:
    """The settings row, created from the OPS_PHASE default on first use."""
    obj, _ = SiteSettings.objects.get_or_create(id=1, defaults={"phase": settings.OPS_PHASE})
    return obj


def current_phase() -> str:
    return site_settings_get().phase


@transaction.atomic
def site_settings_set_phase(*, actor, phase: str, reason: str = "") -> SiteSettings:
    if phase not in Phase.values:
        raise DomainError(f"Unknown phase {phase!r}; choose one of {', '.join(Phase.values)}.")
    site_settings_get()
    obj = SiteSettings.objects.select_for_update().get(id=1)
    before = obj.phase
    if before == phase:
        return obj
    obj.phase = phase
    obj.full_clean()
    obj.save()
    record(
        actor=actor,
        action="site.phase_changed",
        target=obj,
        data={"before": {"phase": before}, "after": {"phase": phase}, "reason": reason},
    )
    return obj


def worker_heartbeat(*, name: str = "cluster") -> None:
    WorkerHeartbeat.objects.update_or_create(name=name[:100], defaults={"seen_at": timezone.now()})


def prune_task_deliveries(*, older_than: timedelta = timedelta(days=7)) -> int:
    deleted, _ = TaskDelivery.objects.filter(last_delivered_at__lt=timezone.now() - older_than).delete()
    return deleted

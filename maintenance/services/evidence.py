"""Evidence from other apps that approves checklist items (backups, the #team-ops summary)."""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from ersen_ops.core.errors import DomainError, PolicyViolation
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from maintenance import policy
from maintenance.choices import ItemKey, WindowStatus
from maintenance.models import (
    Approval,
    MaintenanceWindow,
)
from maintenance.services.checklist import (
    _system_approve,
)
from maintenance.services.helpers import (
    _lock,
    _now,
)


def _is_verified_backup(execution) -> bool:
    result = getattr(execution, "result", None) or {}
    return (
        str(getattr(execution, "status", "")) == "succeeded"
        and isinstance(result, dict)
        and result.get("verified") is True
    )


def _approve_backup(window: MaintenanceWindow, execution, *, now: datetime):
    result = execution.result or {}
    summary = (
        f"Backup {result.get('path', '?')}, {result.get('size', '?')} bytes, sha256 {result.get('sha256', '?')}, "
        f"verified by runbook execution {getattr(execution, 'public_id', '') or execution.pk}."
    )
    return _system_approve(window, ItemKey.BACKUP_VERIFIED, evidence=execution, summary=summary, now=now)


@transaction.atomic
def checklist_record_backup_evidence(*, window: MaintenanceWindow, execution, now: datetime | None = None):
    """Called by runbooks when a verified, successful backup of `window` finishes. Idempotent.

    Before the window is scheduled there is no checklist yet: scheduling looks for such executions itself.
    """
    now = _now(now)
    if getattr(execution, "window_id", window.pk) != window.pk:
        raise DomainError(f"Runbook execution {execution.pk} does not belong to “{window}”.")
    if not _is_verified_backup(execution):
        raise PolicyViolation(
            f"Runbook execution {execution.pk} is not a successful, verified backup "
            f"(status {getattr(execution, 'status', '?')}); it cannot count as evidence."
        )
    locked = _lock(window)
    if locked.status == WindowStatus.CANCELLED:
        return None
    return _approve_backup(locked, execution, now=now)


def on_delivery_sent(delivery) -> Approval | None:
    """A delivery was sent: the #team-ops summary approves "Post-maintenance summary in #team-ops". Idempotent."""
    if (
        delivery.event != "maintenance.summary"
        or delivery.channel != Channel.SLACK_TEAM_OPS
        or delivery.status != DeliveryStatus.SENT
        or delivery.related_type_id != ContentType.objects.get_for_model(MaintenanceWindow).pk
    ):
        return None
    with transaction.atomic():
        window = MaintenanceWindow.objects.select_for_update().filter(pk=delivery.related_id).first()
        if window is None:
            return None
        sent = timezone.localtime(delivery.sent_at) if delivery.sent_at else None
        return _system_approve(
            window,
            ItemKey.SUMMARY_TEAM_OPS,
            evidence=delivery,
            summary=f"Summary delivered to Slack #team-ops (delivery #{delivery.pk}"
            + (f", sent {policy.fmt_local(sent)})." if sent else ")."),
            now=delivery.sent_at or timezone.now(),
        )

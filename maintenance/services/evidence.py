"""Evidence that approves checklist items: the one entry point for other apps, and the #team-ops summary."""

from __future__ import annotations

from datetime import datetime

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from ersen_ops.core import kit
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from maintenance import policy
from maintenance.choices import ItemKey, WindowEvent, WindowStatus
from maintenance.evidence import ChecklistEvidence, evidence_offered
from maintenance.models import (
    Approval,
    MaintenanceWindow,
)
from maintenance.services.checklist import _record_evidence, _system_approve
from maintenance.services.helpers import _raise_violations


@transaction.atomic
def checklist_record_evidence(*, window: MaintenanceWindow, evidence: ChecklistEvidence, now: datetime | None = None):
    """The one way another app's evidence approves a checklist item (a verified backup, a passing health check).

    The producing app decides what its evidence is worth; this applies maintenance's rules (which items evidence
    may prove, a cancelled window's checklist is history) and records the system approval, audited. Idempotent.
    Returns the approval, or None when the window has no such item (yet: a draft's checklist is created when it is
    scheduled, and scheduling asks the registered providers, `maintenance.evidence`) or is cancelled.
    """
    now = kit.now_or(now)
    _raise_violations(policy.check_evidence(evidence.item_key), "Cannot record the evidence:")
    locked = kit.lock(window)
    if locked.status == WindowStatus.CANCELLED:
        return None
    return _record_evidence(locked, evidence, now=now)


def record_offered_evidence(window: MaintenanceWindow, *, now: datetime) -> list:
    """Record what the registered providers offer for `window` (when its checklist is created). Window locked."""
    approvals = []
    for evidence in evidence_offered(window, now):
        if not policy.check_evidence(evidence.item_key):
            approvals.append(_record_evidence(window, evidence, now=now))
    return approvals


def on_delivery_sent(delivery) -> Approval | None:
    """A delivery was sent: the #team-ops summary approves "Post-maintenance summary in #team-ops". Idempotent."""
    if (
        delivery.event != WindowEvent.SUMMARY
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

"""Sweepers, run every minute by django-q; each is idempotent."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from ersen_ops.audit.services import record
from ersen_ops.core import kit
from ersen_ops.notifications.choices import Channel, DeliveryStatus
from maintenance import messages, selectors
from maintenance.choices import ItemKey, WindowEvent, WindowStatus
from maintenance.models import (
    MaintenanceWindow,
)
from maintenance.services.evidence import (
    on_delivery_sent,
)
from maintenance.services.helpers import (
    SWEEPER_ACTOR,
    WINDOW_INVALID,
    _announce,
)


def checklist_sweep_sent_summaries(now: datetime | None = None) -> int:
    """Approve the #team-ops item of completed windows whose summary delivery has been sent."""
    from ersen_ops.notifications.models import NotificationDelivery

    ct = ContentType.objects.get_for_model(MaintenanceWindow)
    open_windows = MaintenanceWindow.objects.filter(
        status=WindowStatus.COMPLETED,
        checklist_items__key=ItemKey.SUMMARY_TEAM_OPS,
        checklist_items__done_at__isnull=True,
    ).values_list("pk", flat=True)
    ids = [str(pk) for pk in open_windows]
    if not ids:
        return 0
    count = 0
    for delivery in NotificationDelivery.objects.filter(
        related_type=ct,
        related_id__in=ids,
        event=WindowEvent.SUMMARY,
        channel=Channel.SLACK_TEAM_OPS,
        status=DeliveryStatus.SENT,
    ):
        if on_delivery_sent(delivery) is not None:
            count += 1
    return count


def windows_mark_overdue(now: datetime | None = None) -> int:
    """Mark in-progress windows past their ETA as overdue and announce it once per overrun (per ETA value)."""
    now = kit.now_or(now)
    count = 0
    for pk in selectors.windows_past_eta(now=now).values_list("pk", flat=True):
        with transaction.atomic():
            window = MaintenanceWindow.objects.select_for_update().get(pk=pk)
            if not window.is_overdue(now) or window.overdue_notified_eta == window.eta:
                continue
            first = window.overdue_since is None
            window.overdue_since = window.overdue_since or now
            window.overdue_notified_eta = window.eta
            kit.clean_and_save(window, lead=WINDOW_INVALID)
            record(
                actor=SWEEPER_ACTOR,
                action="maintenance.window.overdue",
                target=window,
                data={
                    "eta": window.eta,
                    "overdue_by_minutes": int((now - window.eta).total_seconds() // 60),
                    "first_overrun": first,
                },
            )
            _announce(
                window,
                event=WindowEvent.OVERDUE,
                subject=messages.overdue_subject(window),
                body=messages.overdue_text(window, now=now),
                actor=SWEEPER_ACTOR,
            )
            count += 1
    return count


def windows_send_reminders(now: datetime | None = None) -> int:
    """Remind the routine windows' channels shortly before start (OPS_MAINTENANCE_REMINDER_MINUTES), once each."""
    now = kit.now_or(now)
    lead = timedelta(minutes=settings.OPS_MAINTENANCE_REMINDER_MINUTES)
    count = 0
    for pk in selectors.windows_due_for_reminder(now=now, lead=lead).values_list("pk", flat=True):
        with transaction.atomic():
            window = MaintenanceWindow.objects.select_for_update().get(pk=pk)
            if (
                window.reminder_sent_at is not None
                or window.status != WindowStatus.SCHEDULED
                or not (now < window.planned_start <= now + lead)
            ):
                continue
            window.reminder_sent_at = now
            kit.clean_and_save(window, lead=WINDOW_INVALID)
            record(
                actor=SWEEPER_ACTOR,
                action="maintenance.window.reminder_sent",
                target=window,
                data={
                    "planned_start": window.planned_start,
                    "minutes_before": int((window.planned_start - now).total_seconds() // 60),
                },
            )
            _announce(
                window,
                event=WindowEvent.REMINDER,
                subject=messages.reminder_subject(window),
                body=messages.reminder_text(window),
                actor=SWEEPER_ACTOR,
            )
            count += 1
    return count

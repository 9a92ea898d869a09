"""The on-call engineer's confirmation: asking them, their own confirmation, a change of engineer."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import transaction

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core import kit
from ersen_ops.core.errors import DomainError, PolicyViolation
from ersen_ops.notifications.choices import Channel
from ersen_ops.notifications.services import notify
from maintenance import messages, policy
from maintenance.choices import ItemKey, WindowEvent, WindowStatus
from maintenance.models import (
    Approval,
    MaintenanceWindow,
)
from maintenance.services.checklist import (
    _approved,
    _refresh_done,
    _revoke,
    _save_approval,
    approval_facts,
)
from maintenance.services.helpers import (
    _is_user,
    _raise_violations,
)


@transaction.atomic
def checklist_confirm_on_call(
    *, actor, window: MaintenanceWindow, note: str = "", now: datetime | None = None
) -> Approval:
    """The window's on-call engineer confirms being available: their own act, so no approver role is needed and
    separation of duties does not apply (an owner who is also on call may confirm). Audited."""
    now = kit.now_or(now)
    if not _is_user(actor):
        raise DomainError("Only the on-call engineer in person can confirm being available.")
    locked_window = kit.lock(window)
    locked = locked_window.checklist_items.select_for_update().filter(key=ItemKey.ON_CALL_CONFIRMED).first()
    if locked is None:
        raise PolicyViolation(
            f"“{locked_window}” has no on-call item to confirm"
            + (
                " yet: its checklist is created when it is scheduled."
                if locked_window.status == WindowStatus.DRAFT
                else "."
            )
        )
    live = list(locked.approvals.filter(revoked_at__isnull=True).values_list("user_id", flat=True))
    _, actor_name = actor_fields(actor)
    facts = approval_facts(locked_window, locked, actor, live=live, note=note)
    _raise_violations(policy.check_on_call_confirmation(facts), f"Cannot confirm “{locked.text}”:")
    summary = f"Confirmed by the on-call engineer {actor_name} at {policy.fmt_local(now)}."
    approval = _save_approval(locked, actor, actor_name, now=now, note=note, summary=summary)
    _approved(
        actor,
        locked_window,
        locked,
        approval,
        now=now,
        action="maintenance.on_call.confirmed",
        on_call_engineer=actor_name,
        note=approval.note,
    )
    kit.copy_saved_state(window, locked_window)
    return approval


def on_call_confirm_url(window: MaintenanceWindow) -> str:
    """The absolute link, in the email that asks the on-call engineer, to the page where they confirm."""
    from django.urls import reverse

    path = reverse("admin:maintenance_maintenancewindow_on_call", args=[window.pk])
    return settings.OPS_STATUS_PAGE_URL.rstrip("/") + path


def _ask_on_call(window: MaintenanceWindow, *, actor) -> list:
    """Email the on-call engineer a link to confirm being available (when the window has an open on-call item)."""
    engineer = window.on_call_engineer
    item = window.checklist_items.filter(key=ItemKey.ON_CALL_CONFIRMED, done_at__isnull=True).first()
    if engineer is None or item is None:
        return []
    url = on_call_confirm_url(window)
    deliveries = notify(
        event=WindowEvent.ON_CALL_REQUESTED,
        channels=[Channel.EMAIL],
        subject=messages.on_call_request_subject(window),
        body=messages.on_call_request_text(window, url=url),
        related=window,
        actor=actor,
        extra_recipients=[engineer.email] if engineer.email else [],
    )
    record(
        actor=actor,
        action="maintenance.on_call.requested",
        target=window,
        data={
            "on_call_engineer": engineer.get_username(),
            "email": engineer.email,
            "url": url,
            "deliveries": [d.pk for d in deliveries],
        },
    )
    return deliveries


def _on_call_changed(window: MaintenanceWindow, *, actor, now: datetime) -> None:
    """A new on-call engineer: the previous one's confirmation no longer counts; ask the new one."""
    item = window.checklist_items.select_for_update().filter(key=ItemKey.ON_CALL_CONFIRMED).first()
    if item is None:
        return
    for approval in (
        item.approvals.select_for_update().filter(revoked_at__isnull=True).exclude(user_id=window.on_call_engineer_id)
    ):
        _revoke(window, item, approval, actor=actor, reason="The window's on-call engineer changed.", now=now)
    _refresh_done(item, window, now)
    if window.status == WindowStatus.SCHEDULED:
        _ask_on_call(window, actor=actor)

"""The lifecycle of a window: schedule, start, update the ETA, complete, cancel."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core import kit
from ersen_ops.core.errors import PolicyViolation
from ersen_ops.core.services import current_phase
from ersen_ops.notifications.services import notify
from maintenance import messages, policy, registry, selectors
from maintenance.choices import PHASE_ORDER, ChecklistPhase, ItemKey, MaintenanceType, WindowEvent, WindowStatus
from maintenance.models import (
    ChecklistItem,
    ChecklistTemplateItem,
    EtaChange,
    MaintenanceWindow,
)
from maintenance.services.checklist import (
    _maybe_close,
    _system_approve,
)
from maintenance.services.checks import (
    _finished_within_eta,
    raise_refusals,
    window_actions,
)
from maintenance.services.evidence import record_offered_evidence
from maintenance.services.helpers import (
    PERM_TRANSITION,
    SYSTEM_ACTOR,
    WINDOW_INVALID,
    _announce,
    _is_user,
    _raise_violations,
    _snapshot,
    _status_page_delivery,
)
from maintenance.services.on_call import _ask_on_call


@transaction.atomic
def window_schedule(
    *, actor, window: MaintenanceWindow, justification: str = "", now: datetime | None = None
) -> MaintenanceWindow:
    """draft → scheduled: check the protocol, instantiate the checklists, publish the announcement."""
    now = kit.now_or(now)
    kit.require(actor, PERM_TRANSITION, what="scheduling maintenance windows")
    locked = kit.lock(window)
    justification = justification.strip() or locked.emergency_justification
    if locked.type != MaintenanceType.EMERGENCY and justification:
        justification = ""  # only emergency windows may override rules with a justification
    phase = current_phase()
    actions = window_actions(locked, now=now, justification=justification, phase=phase)
    raise_refusals(actions, "schedule", lead=f"Cannot schedule “{locked}”:")
    before = _snapshot(locked)
    locked.status = WindowStatus.SCHEDULED
    locked.announced_at = now
    locked.scheduled_phase = phase
    locked.eta = locked.planned_end
    locked.emergency_justification = justification
    locked.announcement = messages.announcement_text(locked)
    kit.clean_and_save(locked, lead=WINDOW_INVALID)
    items = _instantiate_checklist(locked)
    plan = policy.channels_for(locked.type, phase, locked.planned_duration)
    record(
        actor=actor,
        action="maintenance.window.scheduled",
        target=locked,
        data={
            "before": before,
            "after": _snapshot(locked),
            "phase": phase,
            "channels": list(plan.channels),
            "channel_reasons": list(plan.reasons),
            "checklist_items": len(items),
            "justification": justification,
        },
    )
    deliveries = _announce(
        locked,
        event=WindowEvent.SCHEDULED,
        subject=messages.scheduled_subject(locked),
        body=locked.announcement,
        actor=actor,
        channels=plan.channels,
    )
    status_delivery, summary = _status_page_approves(locked, deliveries, ItemKey.STATUS_SCHEDULED, "Announcement", now)
    if status_delivery is not None:
        _system_approve(
            locked,
            ItemKey.ETA_COMMUNICATED,
            evidence=status_delivery,
            summary=f"The announcement gives ~{messages.duration_minutes(locked.planned_start, locked.planned_end)} "
            f"minutes, ending {policy.fmt_local(locked.planned_end)}. {summary}",
            now=now,
        )
    record_offered_evidence(locked, now=now)  # e.g. a verified backup taken before scheduling (runbooks)
    _ask_on_call(locked, actor=actor)
    kit.copy_saved_state(window, locked)
    return window


def _status_page_approves(window: MaintenanceWindow, deliveries, key: str, what: str, now: datetime):
    """The status-page delivery an announcement queued is the evidence of the item `key`: (delivery, summary)."""
    delivery = _status_page_delivery(deliveries)
    if delivery is None:
        return None, ""
    summary = f"{what} queued to the status page (delivery #{delivery.pk})."
    _system_approve(window, key, evidence=delivery, summary=summary, now=now)
    return delivery, summary


def _instantiate_checklist(window: MaintenanceWindow) -> list[ChecklistItem]:
    """Copy today's templates into the window (later template edits do not rewrite it)."""
    if window.checklist_items.exists():
        return list(window.checklist_items.all())
    template_items = sorted(
        ChecklistTemplateItem.objects.select_related("template"),
        key=lambda t: (PHASE_ORDER[t.template.phase], t.order, t.pk),
    )
    return ChecklistItem.objects.bulk_create(
        [
            ChecklistItem(
                window=window,
                phase=t.template.phase,
                order=t.order,
                text=t.text,
                key=t.key,
                required_approvals=t.required_approvals,
            )
            for t in template_items
        ]
    )


@transaction.atomic
def window_start(
    *, actor, window: MaintenanceWindow, justification: str = "", now: datetime | None = None
) -> MaintenanceWindow:
    """scheduled → in_progress: every "before" item done, or an emergency with a written justification."""
    now = kit.now_or(now)
    kit.require(actor, PERM_TRANSITION, what="starting maintenance windows")
    locked = kit.lock(window)
    items = list(locked.checklist_items.all())
    actions = window_actions(locked, now=now, justification=justification, items=items)
    raise_refusals(actions, "start", lead=f"Cannot start “{locked}”:")
    debt = policy.open_items(selectors.item_facts(items), ChecklistPhase.BEFORE)
    before = _snapshot(locked)
    locked.status = WindowStatus.IN_PROGRESS
    locked.actual_start = now
    if justification.strip():
        text = justification.strip()
        locked.emergency_justification = (
            f"{locked.emergency_justification}\n{text}".strip() if locked.emergency_justification else text
        )
    eta_change = None
    if locked.eta is None or locked.eta <= now:
        # Started late: the work still takes the planned duration.
        old_eta = locked.eta
        locked.eta = now + (locked.planned_duration or timedelta(0))
        eta_change = EtaChange(
            window=locked,
            changed_by=None,
            changed_by_name=SYSTEM_ACTOR,
            changed_at=now,
            old_eta=old_eta,
            new_eta=locked.eta,
            reason=f"Started at {policy.fmt_local(now)}, after the planned start: the planned "
            f"{policy.fmt_duration(locked.planned_duration)} counted from the actual start.",
        )
    kit.clean_and_save(locked, lead=WINDOW_INVALID)
    if eta_change is not None:
        eta_change.save()
    record(
        actor=actor,
        action="maintenance.window.started",
        target=locked,
        data={
            "before": before,
            "after": _snapshot(locked),
            "open_before_items": debt,
            "justification": justification.strip(),
        },
    )
    deliveries = _announce(
        locked,
        event=WindowEvent.STARTED,
        subject=messages.started_subject(locked),
        body=messages.started_text(locked),
        actor=actor,
    )
    _status_page_approves(locked, deliveries, ItemKey.STATUS_UNDER_MAINTENANCE, "“Under Maintenance”", now)
    kit.copy_saved_state(window, locked)
    return window


@transaction.atomic
def window_update_eta(
    *, actor, window: MaintenanceWindow, new_eta: datetime, reason: str, now: datetime | None = None
) -> EtaChange:
    """A new estimated completion, kept as history (who, when, old → new, why) and announced."""
    now = kit.now_or(now)
    kit.require(actor, PERM_TRANSITION, what="updating a window's ETA")
    locked = kit.lock(window)
    raise_refusals(window_actions(locked, now=now, items=()), "update_eta", lead="")  # the ETA reads no item
    _raise_violations(
        policy.check_eta(new_eta=new_eta, now=now, actual_start=locked.actual_start, reason=reason),
        f"Cannot update the ETA of “{locked}”:",
    )
    old_eta = locked.eta
    _, actor_name = actor_fields(actor)
    change = EtaChange(
        window=locked,
        changed_by=actor if _is_user(actor) else None,
        changed_by_name=actor_name,
        changed_at=now,
        old_eta=old_eta,
        new_eta=new_eta,
        reason=reason.strip(),
    )
    change.full_clean()
    change.save()
    locked.eta = new_eta
    locked.overdue_since = None
    kit.clean_and_save(locked, lead=WINDOW_INVALID)
    record(
        actor=actor,
        action="maintenance.window.eta_changed",
        target=locked,
        data={"before": {"eta": old_eta}, "after": {"eta": new_eta}, "reason": change.reason, "eta_change": change.pk},
    )
    _announce(
        locked,
        event=WindowEvent.ETA_CHANGED,
        subject=messages.eta_subject(locked),
        body=messages.eta_text(locked, old_eta=old_eta, reason=change.reason),
        actor=actor,
    )
    _system_approve(
        locked,
        ItemKey.UPDATE_ETA,
        evidence=change,
        summary=f"ETA updated by {actor_name}: {policy.fmt_local(old_eta) if old_eta else '—'} → "
        f"{policy.fmt_local(new_eta)} ({change.reason}).",
        now=now,
    )
    kit.copy_saved_state(window, locked)
    return change


@transaction.atomic
def window_complete(*, actor, window: MaintenanceWindow, now: datetime | None = None) -> MaintenanceWindow:
    """in_progress → completed: every "during" item done. Announces, and sends the summary to #team-ops."""
    now = kit.now_or(now)
    kit.require(actor, PERM_TRANSITION, what="completing maintenance windows")
    locked = kit.lock(window)
    raise_refusals(window_actions(locked, now=now), "complete", lead=f"Cannot complete “{locked}”:")
    if _finished_within_eta(locked, now):
        # "Update ETA if running long": it did not run long, which the system knows for a fact.
        _system_approve(
            locked,
            ItemKey.UPDATE_ETA,
            evidence=None,
            summary=f"Not running long: completing at {policy.fmt_local(now)}, within the ETA "
            f"{policy.fmt_local(locked.eta)}.",
            now=now,
            only_if_open=True,
        )
    before = _snapshot(locked)
    locked.status = WindowStatus.COMPLETED
    locked.actual_end = now
    locked.overdue_since = None
    kit.clean_and_save(locked, lead=WINDOW_INVALID)
    deliveries = _announce(
        locked,
        event=WindowEvent.COMPLETED,
        subject=messages.completed_subject(locked),
        body=messages.completed_text(locked),
        actor=actor,
    )
    _status_page_approves(locked, deliveries, ItemKey.STATUS_OPERATIONAL, "“Operational”", now)
    locked.summary = messages.summary_text(
        locked,
        items=selectors.checklist_items(locked),
        eta_changes=list(locked.eta_changes.all()),
        sections=registry.summary_sections(locked),
    )
    kit.clean_and_save(locked, lead=WINDOW_INVALID)
    record(
        actor=actor,
        action="maintenance.window.completed",
        target=locked,
        data={
            "before": before,
            "after": _snapshot(locked),
            "planned_minutes": int(locked.planned_duration.total_seconds() // 60),
            "actual_minutes": int(locked.actual_duration.total_seconds() // 60),
        },
    )
    notify(
        event=WindowEvent.SUMMARY,
        channels=policy.SUMMARY_CHANNELS,
        subject=messages.summary_subject(locked),
        body=locked.summary,
        related=locked,
        actor=actor,
    )
    _maybe_close(locked, now=now)
    kit.copy_saved_state(window, locked)
    return window


@transaction.atomic
def window_cancel(*, actor, window: MaintenanceWindow, reason: str, now: datetime | None = None) -> MaintenanceWindow:
    """draft|scheduled → cancelled, with a reason. A scheduled (announced) window's cancellation is announced."""
    now = kit.now_or(now)
    kit.require(actor, PERM_TRANSITION, what="cancelling maintenance windows")
    locked = kit.lock(window)
    raise_refusals(window_actions(locked, now=now, items=()), "cancel", lead="")  # the state rule only
    if not (reason or "").strip():
        raise PolicyViolation("Say why the window is cancelled: the reason is kept and, once announced, published.")
    before = _snapshot(locked)
    was_announced = locked.status == WindowStatus.SCHEDULED
    locked.status = WindowStatus.CANCELLED
    locked.cancellation_reason = reason.strip()
    kit.clean_and_save(locked, lead=WINDOW_INVALID)
    record(
        actor=actor,
        action="maintenance.window.cancelled",
        target=locked,
        data={"before": before, "after": _snapshot(locked), "reason": locked.cancellation_reason},
    )
    if was_announced:
        _announce(
            locked,
            event=WindowEvent.CANCELLED,
            subject=messages.cancelled_subject(locked),
            body=messages.cancelled_text(locked),
            actor=actor,
        )
    kit.copy_saved_state(window, locked)
    return window

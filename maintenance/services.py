"""Every state change of a maintenance window, its checklist and its approvals.

One function per transition. Each one locks the window (`select_for_update`),
checks the rules (`maintenance.policy`), changes, `full_clean()`s, saves,
audits in the same transaction and announces through `notify()` (queued after
commit). Admin views, tasks, commands and other apps call these; none of them
repeats a rule.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core.errors import DomainError, InvalidTransition, PermissionRefused, PolicyViolation
from ersen_ops.core.services import current_phase
from ersen_ops.notifications.choices import Channel, DeliveryStatus, PagerAction
from ersen_ops.notifications.services import notify
from maintenance import messages, policy, selectors
from maintenance.choices import PHASE_ORDER, ChecklistPhase, ItemKey, MaintenanceType, WindowStatus, can_transition
from maintenance.models import (
    Approval,
    ApprovalRevocation,
    ChecklistItem,
    ChecklistTemplateItem,
    EtaChange,
    MaintenanceWindow,
)

SYSTEM_ACTOR = "system:maintenance"
SWEEPER_ACTOR = "system:maintenance-sweeper"
RESOLVING_EVENTS = {"maintenance.completed", "maintenance.cancelled"}

PERM_ADD = "maintenance.add_maintenancewindow"
PERM_CHANGE = "maintenance.change_maintenancewindow"
PERM_TRANSITION = "maintenance.transition_maintenancewindow"
PERM_APPROVE = "maintenance.approve_checklistitem"

# Fields that may still change in each state (anything else is history).
EDITABLE_FIELDS = {
    WindowStatus.DRAFT: None,  # everything
    WindowStatus.SCHEDULED: None,  # everything, re-checked against the policy and re-announced
    WindowStatus.IN_PROGRESS: {"rollback_plan", "on_call_engineer", "owner"},
    WindowStatus.COMPLETED: set(),
    WindowStatus.CANCELLED: set(),
}
# Changes to these re-check the scheduling policy of a scheduled window.
SCHEDULE_FIELDS = {"type", "planned_start", "planned_end", "components"}
ANNOUNCED_FIELDS = SCHEDULE_FIELDS | {"impact", "reason"}
WINDOW_FIELDS = (
    "title",
    "type",
    "planned_start",
    "planned_end",
    "impact",
    "reason",
    "rollback_plan",
    "owner",
    "on_call_engineer",
)


# --- helpers ---------------------------------------------------------------------------------------------


def _now(now: datetime | None) -> datetime:
    return now or timezone.now()


def _is_user(actor) -> bool:
    return actor is not None and not isinstance(actor, str)


def _require(actor, perm: str, what: str) -> None:
    """Users need the permission; named system actors act on the system's own authority."""
    if _is_user(actor) and not actor.has_perm(perm):
        raise PermissionRefused(f"Your role does not allow {what} ({perm}).")


def _lock(window: MaintenanceWindow) -> MaintenanceWindow:
    return MaintenanceWindow.objects.select_for_update().get(pk=window.pk)


def _refresh(target: MaintenanceWindow, source: MaintenanceWindow) -> None:
    """Copy the saved state back onto the caller's instance, so callers see the result."""
    for f in source._meta.concrete_fields:
        setattr(target, f.attname, getattr(source, f.attname))


def _transition(window: MaintenanceWindow, target: str, verb: str) -> None:
    if not can_transition(window.status, target):
        allowed = ", ".join(WindowStatus(s).label.lower() for s in _sources_of(target))
        raise InvalidTransition(
            f"Cannot {verb} “{window}”: it is {window.get_status_display().lower()}"
            + (f" (only a {allowed} window can be {WindowStatus(target).label.lower()})." if allowed else ".")
        )


def _sources_of(target: str) -> list[str]:
    from maintenance.choices import TRANSITIONS

    return [s for s, targets in TRANSITIONS.items() if target in targets]


def _snapshot(window: MaintenanceWindow) -> dict:
    return {
        "status": window.status,
        "type": window.type,
        "planned_start": window.planned_start,
        "planned_end": window.planned_end,
        "eta": window.eta,
        "actual_start": window.actual_start,
        "actual_end": window.actual_end,
        "closed_at": window.closed_at,
    }


def _clean_and_save(obj: models.Model) -> None:
    try:
        obj.full_clean()
    except ValidationError as exc:
        raise DomainError("The window is not valid:", details=[str(m) for m in exc.messages]) from None
    obj.save()


def _raise_violations(violations: list[policy.Violation], lead: str) -> None:
    """One readable sentence per broken rule; the Violation objects ride along for forms."""
    if violations:
        exc = PolicyViolation(f"{lead} " + " ".join(v.message for v in violations), code=violations[0].rule)
        exc.violations = violations
        raise exc


def window_channels(window: MaintenanceWindow, phase: str | None = None) -> tuple[str, ...]:
    phase = phase or window.scheduled_phase or current_phase()
    return policy.channels_for(window.type, phase, window.planned_duration).channels


def _announce(window: MaintenanceWindow, *, event: str, subject: str, body: str, actor, channels=None) -> list:
    return notify(
        event=event,
        channels=channels or window_channels(window),
        subject=subject,
        body=body,
        related=window,
        actor=actor,
        # One pager incident per window: the completion or cancellation resolves it.
        pager_action=PagerAction.RESOLVE if event in RESOLVING_EVENTS else PagerAction.TRIGGER,
        dedup_key=window.public_id,
        severity="critical" if window.type == MaintenanceType.EMERGENCY else "info",
    )


def _status_page_delivery(deliveries):
    return next((d for d in deliveries if d.channel == Channel.STATUS_PAGE), None)


def _schedule_context(window: MaintenanceWindow, *, now: datetime, component_ids=None, justification=None):
    """The window's facts, and the freezes and other windows from its start (or now) to the slot search's end."""
    facts = selectors.window_facts(window, component_ids=component_ids, justification=justification)
    start = min(facts.planned_start, now)
    end = max(facts.planned_end, now + policy.POLICY[facts.type].notice) + policy.SLOT_SEARCH + timedelta(days=1)
    freezes = selectors.freezes_overlapping(start=start, end=end)
    others = selectors.windows_overlapping(start=start, end=end, component_ids=facts.components, exclude_pk=window.pk)
    return facts, freezes, others


def schedule_violations(
    window: MaintenanceWindow, *, now: datetime, component_ids=None, justification: str | None = None, phase=None
) -> list[policy.Violation]:
    """What forbids (re)scheduling `window` at `now`, given the freezes and the other windows. Read-only."""
    facts, freezes, others = _schedule_context(
        window, now=now, component_ids=component_ids, justification=justification
    )
    if facts.planned_end <= facts.planned_start:
        others = []
    phase = phase or current_phase()
    people = people_violations(window, phase=phase) if window.status == WindowStatus.DRAFT else []
    return people + policy.check_schedule(facts, now, phase, freezes=freezes, overlapping=others)


def valid_slots(
    window: MaintenanceWindow, *, now: datetime, count: int = 4, phase=None
) -> list[tuple[datetime, datetime]]:
    """The next routine slots where `window` passes the same check as scheduling (policy.valid_slots). Read-only."""
    facts, freezes, others = _schedule_context(window, now=now)
    return policy.valid_slots(facts, now, phase or current_phase(), freezes=freezes, overlapping=others, count=count)


def people_violations(window: MaintenanceWindow, *, phase: str) -> list[policy.Violation]:
    """Who is missing for `window`'s checklist ever to be completed (the items it gets, the people who exist)."""
    from ersen_ops.core.roles import APPROVERS

    if window.pk and window.checklist_items.exists():
        items = [
            policy.ChecklistNeed(text=i.text, phase=i.phase, key=i.key, required_approvals=i.required_approvals)
            for i in window.checklist_items.all()
        ]
    else:
        items = [
            policy.ChecklistNeed(
                text=t.text, phase=t.template.phase, key=t.key, required_approvals=t.required_approvals
            )
            for t in ChecklistTemplateItem.objects.select_related("template")
        ]
    return policy.check_people(
        items=items,
        window_type=window.type,
        phase=phase,
        owner=selectors.person(window.owner) if window.owner_id else None,
        on_call=selectors.person(window.on_call_engineer) if window.on_call_engineer_id else None,
        approvers=selectors.approvers(),
        owner_may_self_approve=settings.OPS_OWNER_MAY_SELF_APPROVE,
        approver_role=APPROVERS,
    )


def start_refusals(window: MaintenanceWindow, *, now: datetime, justification: str = "", items=None):
    """Why `window` cannot start at `now` (empty: it can). Read-only; the admin shows these on the button."""
    items = list(window.checklist_items.all()) if items is None else items
    return policy.check_start(
        window_type=window.type,
        phase=window.scheduled_phase or current_phase(),
        planned_start=window.planned_start,
        now=now,
        items=selectors.item_facts(items),
        justification=justification,
    )


def _finished_within_eta(window: MaintenanceWindow, now: datetime) -> bool:
    return window.overdue_since is None and window.eta is not None and now <= window.eta


def complete_refusals(window: MaintenanceWindow, *, now: datetime):
    """Why `window` cannot complete at `now` (empty: it can). Read-only."""
    facts = []
    for item in window.checklist_items.all():
        done = item.done_at is not None or (item.key == ItemKey.UPDATE_ETA and _finished_within_eta(window, now))
        facts.append(policy.ItemFacts(text=item.text, phase=item.phase, done=done))
    return policy.check_complete(facts)


# --- creating and editing ---------------------------------------------------------------------------------


@transaction.atomic
def window_create(*, actor, components=(), **fields) -> MaintenanceWindow:
    """A new draft window. Nothing is announced until it is scheduled."""
    _require(actor, PERM_ADD, "creating maintenance windows")
    unknown = set(fields) - set(WINDOW_FIELDS)
    if unknown:
        raise DomainError(f"Unknown window fields: {', '.join(sorted(unknown))}.")
    if fields.get("owner") is None and _is_user(actor):
        fields["owner"] = actor
    window = MaintenanceWindow(status=WindowStatus.DRAFT, **fields)
    _clean_and_save(window)
    window.components.set(components)
    record(
        actor=actor,
        action="maintenance.window.created",
        target=window,
        data={"after": {**_snapshot(window), "title": window.title, "components": sorted(c.pk for c in components)}},
    )
    return window


@transaction.atomic
def window_update(*, actor, window: MaintenanceWindow, components=None, now: datetime | None = None, **changes):
    """Edit a window. A scheduled window is re-checked against the policy and its announcement re-published."""
    now = _now(now)
    _require(actor, PERM_CHANGE, "editing maintenance windows")
    locked = _lock(window)
    unknown = set(changes) - set(WINDOW_FIELDS)
    if unknown:
        raise DomainError(f"Unknown window fields: {', '.join(sorted(unknown))}.")
    changed = {k: v for k, v in changes.items() if getattr(locked, k) != v}
    old_components = sorted(locked.components.values_list("pk", flat=True))
    new_components = sorted(c.pk for c in components) if components is not None else old_components
    if new_components != old_components:
        changed["components"] = new_components
    if not changed:
        _refresh(window, locked)
        return window
    editable = EDITABLE_FIELDS[locked.status]
    if editable is not None:
        refused = sorted(set(changed) - editable)
        if refused:
            raise InvalidTransition(
                f"“{locked}” is {locked.get_status_display().lower()}: {', '.join(refused)} can no longer change"
                + (f" (editable now: {', '.join(sorted(editable))})." if editable else ".")
                + (
                    " Use “Update ETA” for a new estimated completion."
                    if locked.status == WindowStatus.IN_PROGRESS
                    else ""
                )
            )
    before = {k: (old_components if k == "components" else getattr(locked, k)) for k in changed}
    for k, v in changes.items():
        setattr(locked, k, v)
    reannounce = locked.status == WindowStatus.SCHEDULED and bool(set(changed) & ANNOUNCED_FIELDS)
    if locked.status == WindowStatus.SCHEDULED and set(changed) & SCHEDULE_FIELDS:
        _raise_violations(
            schedule_violations(locked, now=now, component_ids=new_components),
            f"Cannot reschedule “{locked}”:",
        )
        locked.eta = locked.planned_end
        locked.announced_at = now
        locked.scheduled_phase = current_phase()
        locked.reminder_sent_at = None
    if reannounce:
        locked.announcement = messages.announcement_text(locked)
    _clean_and_save(locked)
    if components is not None:
        locked.components.set(components)
    after = {k: (new_components if k == "components" else getattr(locked, k)) for k in changed}
    for d in (before, after):
        for k, v in d.items():
            if isinstance(v, models.Model):
                d[k] = str(v)
    record(actor=actor, action="maintenance.window.updated", target=locked, data={"before": before, "after": after})
    if "on_call_engineer" in changed and locked.status in (WindowStatus.SCHEDULED, WindowStatus.IN_PROGRESS):
        _on_call_changed(locked, actor=actor, now=now)
    if reannounce:
        rescheduled = bool(set(changed) & SCHEDULE_FIELDS)
        body = locked.announcement
        if rescheduled:
            body = messages.rescheduled_text(
                locked,
                old_start=before.get("planned_start", locked.planned_start),
                old_end=before.get("planned_end", locked.planned_end),
            )
        _announce(
            locked,
            event="maintenance.rescheduled" if rescheduled else "maintenance.updated",
            subject=messages.rescheduled_subject(locked) if rescheduled else messages.scheduled_subject(locked),
            body=body,
            actor=actor,
        )
    _refresh(window, locked)
    return window


# --- the lifecycle ------------------------------------------------------------------------------------------


@transaction.atomic
def window_schedule(
    *, actor, window: MaintenanceWindow, justification: str = "", now: datetime | None = None
) -> MaintenanceWindow:
    """draft → scheduled: check the protocol, instantiate the checklists, publish the announcement."""
    now = _now(now)
    _require(actor, PERM_TRANSITION, "scheduling maintenance windows")
    locked = _lock(window)
    _transition(locked, WindowStatus.SCHEDULED, "schedule")
    justification = justification.strip() or locked.emergency_justification
    if locked.type != MaintenanceType.EMERGENCY and justification:
        justification = ""  # only emergency windows may override rules with a justification
    phase = current_phase()
    _raise_violations(
        schedule_violations(locked, now=now, justification=justification, phase=phase),
        f"Cannot schedule “{locked}”:",
    )
    before = _snapshot(locked)
    locked.status = WindowStatus.SCHEDULED
    locked.announced_at = now
    locked.scheduled_phase = phase
    locked.eta = locked.planned_end
    locked.emergency_justification = justification
    locked.announcement = messages.announcement_text(locked)
    _clean_and_save(locked)
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
        event="maintenance.scheduled",
        subject=messages.scheduled_subject(locked),
        body=locked.announcement,
        actor=actor,
        channels=plan.channels,
    )
    status_delivery = _status_page_delivery(deliveries)
    if status_delivery is not None:
        summary = f"Announcement queued to the status page (delivery #{status_delivery.pk})."
        _system_approve(locked, ItemKey.STATUS_SCHEDULED, evidence=status_delivery, summary=summary, now=now)
        _system_approve(
            locked,
            ItemKey.ETA_COMMUNICATED,
            evidence=status_delivery,
            summary=f"The announcement gives ~{messages.duration_minutes(locked.planned_start, locked.planned_end)} "
            f"minutes, ending {policy.fmt_local(locked.planned_end)}. {summary}",
            now=now,
        )
    for execution in selectors.runbook_executions(locked):
        if _is_verified_backup(execution):
            _approve_backup(locked, execution, now=now)
            break
    _ask_on_call(locked, actor=actor)
    _refresh(window, locked)
    return window


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
    now = _now(now)
    _require(actor, PERM_TRANSITION, "starting maintenance windows")
    locked = _lock(window)
    _transition(locked, WindowStatus.IN_PROGRESS, "start")
    items = list(locked.checklist_items.all())
    _raise_violations(
        start_refusals(locked, now=now, justification=justification, items=items), f"Cannot start “{locked}”:"
    )
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
    _clean_and_save(locked)
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
        event="maintenance.started",
        subject=messages.started_subject(locked),
        body=messages.started_text(locked),
        actor=actor,
    )
    status_delivery = _status_page_delivery(deliveries)
    if status_delivery is not None:
        _system_approve(
            locked,
            ItemKey.STATUS_UNDER_MAINTENANCE,
            evidence=status_delivery,
            summary=f"“Under Maintenance” queued to the status page (delivery #{status_delivery.pk}).",
            now=now,
        )
    _refresh(window, locked)
    return window


@transaction.atomic
def window_update_eta(
    *, actor, window: MaintenanceWindow, new_eta: datetime, reason: str, now: datetime | None = None
) -> EtaChange:
    """A new estimated completion, kept as history (who, when, old → new, why) and announced."""
    now = _now(now)
    _require(actor, PERM_TRANSITION, "updating a window's ETA")
    locked = _lock(window)
    if locked.status != WindowStatus.IN_PROGRESS:
        raise InvalidTransition(
            f"Cannot update the ETA of “{locked}”: it is {locked.get_status_display().lower()} "
            "(only an in-progress window has an ETA to update; reschedule a scheduled window instead)."
        )
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
    _clean_and_save(locked)
    record(
        actor=actor,
        action="maintenance.window.eta_changed",
        target=locked,
        data={"before": {"eta": old_eta}, "after": {"eta": new_eta}, "reason": change.reason, "eta_change": change.pk},
    )
    _announce(
        locked,
        event="maintenance.eta_changed",
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
    _refresh(window, locked)
    return change


@transaction.atomic
def window_complete(*, actor, window: MaintenanceWindow, now: datetime | None = None) -> MaintenanceWindow:
    """in_progress → completed: every "during" item done. Announces, and sends the summary to #team-ops."""
    now = _now(now)
    _require(actor, PERM_TRANSITION, "completing maintenance windows")
    locked = _lock(window)
    _transition(locked, WindowStatus.COMPLETED, "complete")
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
    _raise_violations(complete_refusals(locked, now=now), f"Cannot complete “{locked}”:")
    before = _snapshot(locked)
    locked.status = WindowStatus.COMPLETED
    locked.actual_end = now
    locked.overdue_since = None
    _clean_and_save(locked)
    deliveries = _announce(
        locked,
        event="maintenance.completed",
        subject=messages.completed_subject(locked),
        body=messages.completed_text(locked),
        actor=actor,
    )
    status_delivery = _status_page_delivery(deliveries)
    if status_delivery is not None:
        _system_approve(
            locked,
            ItemKey.STATUS_OPERATIONAL,
            evidence=status_delivery,
            summary=f"“Operational” queued to the status page (delivery #{status_delivery.pk}).",
            now=now,
        )
    locked.summary = messages.summary_text(
        locked,
        items=selectors.checklist_items(locked),
        eta_changes=list(locked.eta_changes.all()),
        executions=selectors.runbook_executions(locked),
        incidents=selectors.linked_incidents(locked),
    )
    _clean_and_save(locked)
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
        event="maintenance.summary",
        channels=policy.SUMMARY_CHANNELS,
        subject=messages.summary_subject(locked),
        body=locked.summary,
        related=locked,
        actor=actor,
    )
    _maybe_close(locked, now=now)
    _refresh(window, locked)
    return window


@transaction.atomic
def window_cancel(*, actor, window: MaintenanceWindow, reason: str, now: datetime | None = None) -> MaintenanceWindow:
    """draft|scheduled → cancelled, with a reason. A scheduled (announced) window's cancellation is announced."""
    now = _now(now)
    _require(actor, PERM_TRANSITION, "cancelling maintenance windows")
    locked = _lock(window)
    _transition(locked, WindowStatus.CANCELLED, "cancel")
    if not (reason or "").strip():
        raise PolicyViolation("Say why the window is cancelled: the reason is kept and, once announced, published.")
    before = _snapshot(locked)
    was_announced = locked.status == WindowStatus.SCHEDULED
    locked.status = WindowStatus.CANCELLED
    locked.cancellation_reason = reason.strip()
    _clean_and_save(locked)
    record(
        actor=actor,
        action="maintenance.window.cancelled",
        target=locked,
        data={"before": before, "after": _snapshot(locked), "reason": locked.cancellation_reason},
    )
    if was_announced:
        _announce(
            locked,
            event="maintenance.cancelled",
            subject=messages.cancelled_subject(locked),
            body=messages.cancelled_text(locked),
            actor=actor,
        )
    _refresh(window, locked)
    return window


def _maybe_close(window: MaintenanceWindow, *, now: datetime) -> bool:
    """Completed windows close once every "after" item is done. Call with the window locked."""
    if window.status != WindowStatus.COMPLETED or window.closed_at is not None:
        return False
    items = list(window.checklist_items.all())
    if not policy.ready_to_close(selectors.item_facts(items)):
        return False
    window.closed_at = now
    _clean_and_save(window)
    record(
        actor=SYSTEM_ACTOR,
        action="maintenance.window.closed",
        target=window,
        data={"before": {"closed_at": None}, "after": {"closed_at": now}, "note": "every “after” item is done"},
    )
    return True


# --- checklist approvals ---------------------------------------------------------------------------------


def _sod_applies(item: ChecklistItem) -> bool:
    return policy.separation_of_duties_applies(
        phase=current_phase(),
        item_phase=item.phase,
        owner_may_self_approve=settings.OPS_OWNER_MAY_SELF_APPROVE,
        item_key=item.key,
    )


def _refresh_done(item: ChecklistItem, window: MaintenanceWindow, now: datetime) -> bool:
    """Recompute done_at from the live approvals. Returns True when it changed."""
    live = list(item.approvals.filter(revoked_at__isnull=True).values_list("user_id", flat=True))
    done = policy.item_done(
        live_approver_ids=live,
        required=item.required_approvals,
        owner_id=window.owner_id,
        sod_applies=_sod_applies(item),
    )
    if done and item.done_at is None:
        item.done_at = now
    elif not done and item.done_at is not None:
        item.done_at = None
    else:
        return False
    item.save(update_fields=["done_at"])
    return True


def _evidence_fields(evidence) -> dict:
    if evidence is None:
        return {}
    return {"evidence_type": ContentType.objects.get_for_model(evidence), "evidence_id": str(evidence.pk)}


def _system_approve(
    window: MaintenanceWindow, key: str, *, evidence, summary: str, now: datetime, only_if_open: bool = False
):
    """Approve the window's `key` item as the system actor with evidence. Idempotent. Window must be locked."""
    item = window.checklist_items.select_for_update().filter(key=key).first()
    if item is None or (only_if_open and item.done_at is not None):
        return None
    existing = item.approvals.filter(user__isnull=True, actor_name=SYSTEM_ACTOR, revoked_at__isnull=True).first()
    if existing is not None:
        return existing
    approval = Approval(
        item=item,
        user=None,
        actor_name=SYSTEM_ACTOR,
        approved_at=now,
        evidence_summary=summary,
        **_evidence_fields(evidence),
    )
    approval.full_clean(validate_constraints=False)
    approval.save()
    return _approved(
        SYSTEM_ACTOR,
        window,
        item,
        approval,
        now=now,
        evidence=f"{approval.evidence_type.model} #{approval.evidence_id}" if evidence is not None else "",
        evidence_summary=summary,
    )


def _approved(actor, window: MaintenanceWindow, item: ChecklistItem, approval: Approval, *, now, **details):
    """After an approval is saved: the item's done state, the audit event (with `details`), a possible close."""
    became_done = _refresh_done(item, window, now)
    record(
        actor=actor,
        action="maintenance.checklist.approved",
        target=window,
        data={
            "item": item.text,
            "item_id": item.pk,
            "phase": item.phase,
            "approval_id": approval.pk,
            **details,
            "item_done": item.done_at is not None,
            "became_done": became_done,
        },
    )
    _maybe_close(window, now=now)
    return approval


def approval_facts(
    window: MaintenanceWindow,
    item: ChecklistItem,
    actor,
    *,
    live=None,
    note: str = "",
    evidence: bool = False,
    phase=None,
) -> policy.ApprovalFacts:
    """The facts the approval rules look at, for `actor` and `item` (read-only; also used to build the pages)."""
    if live is None:
        live = [a.user_id for a in item.approvals.all() if a.revoked_at is None]
    _, actor_name = actor_fields(actor)
    return policy.ApprovalFacts(
        item_text=item.text,
        item_key=item.key,
        item_phase=item.phase,
        window_status=window.status,
        window_closed=window.closed_at is not None,
        phase=phase or current_phase(),
        actor_is_system=not _is_user(actor),
        actor_id=actor.pk if _is_user(actor) else None,
        actor_name=actor_name,
        owner_id=window.owner_id,
        on_call_id=window.on_call_engineer_id,
        on_call_name=str(window.on_call_engineer or ""),
        rollback_plan=window.rollback_plan,
        live_approver_ids=tuple(live),
        required_approvals=item.required_approvals,
        owner_may_self_approve=settings.OPS_OWNER_MAY_SELF_APPROVE,
        note=note,
        evidence=evidence,
        item_done=item.done_at is not None,
    )


def approval_refusals(window: MaintenanceWindow, item: ChecklistItem, user, *, phase=None) -> list[policy.Violation]:
    """Why `user` cannot approve (or, for the on-call item, confirm) `item` now, whatever they would type into the
    form; empty when they can. Read-only: the checklist panel and the Approve page are built from it."""
    if item.key == ItemKey.ON_CALL_CONFIRMED:
        return policy.check_on_call_confirmation(approval_facts(window, item, user, phase=phase))
    if not user.has_perm(PERM_APPROVE):
        from ersen_ops.core.admin_workflow import role_refusal

        return [policy.Violation("role", role_refusal(PERM_APPROVE))]
    return policy.approval_eligibility(approval_facts(window, item, user, phase=phase))


def approval_refusal(window: MaintenanceWindow, item: ChecklistItem, user, *, phase=None) -> str:
    return " ".join(v.message for v in approval_refusals(window, item, user, phase=phase))


def item_requirements(window: MaintenanceWindow, item: ChecklistItem, user, *, phase=None) -> list[str]:
    """What approving `item` needs, in the policy's words, as `user` would read it beside the item."""
    needs = policy.item_requirements(
        item_key=item.key,
        item_phase=item.phase,
        phase=phase or current_phase(),
        owner_may_self_approve=settings.OPS_OWNER_MAY_SELF_APPROVE,
    )
    if not (_is_user(user) and user.pk == window.owner_id):
        needs = [n for n in needs if n != policy.SOD_REQUIREMENT]  # it concerns the owner only
    if item.required_approvals > 1:
        live = sum(1 for a in item.approvals.all() if a.revoked_at is None)
        needs.append(f"needs {item.required_approvals} approvals ({live} so far)")
    return needs


@transaction.atomic
def checklist_approve(
    *, actor, item: ChecklistItem, note: str = "", evidence_url: str = "", now: datetime | None = None
) -> Approval:
    """One person's approval of one checklist item (one live approval per person per item).

    The on-call item is the on-call engineer's own confirmation: it goes to `checklist_confirm_on_call`.
    """
    now = _now(now)
    if not _is_user(actor):
        raise DomainError("A checklist approval by a person needs a user; system approvals carry evidence.")
    if item.key == ItemKey.ON_CALL_CONFIRMED:
        return checklist_confirm_on_call(actor=actor, window=item.window, note=note, now=now)
    _require(actor, PERM_APPROVE, "approving checklist items")
    window = MaintenanceWindow.objects.select_for_update().get(pk=item.window_id)
    locked = ChecklistItem.objects.select_for_update().get(pk=item.pk)
    live = list(locked.approvals.filter(revoked_at__isnull=True).values_list("user_id", flat=True))
    _, actor_name = actor_fields(actor)
    facts = approval_facts(window, locked, actor, live=live, note=note, evidence=bool(evidence_url.strip()))
    # A done item still takes a further approval (a second pair of eyes); the page just doesn't offer it.
    facts = dataclasses.replace(facts, item_done=False)
    _raise_violations(policy.check_approval(facts), f"Cannot approve “{locked.text}”:")
    summary = ""
    if locked.key == ItemKey.ROLLBACK_PLAN:
        summary = f"Rollback plan at approval time:\n{window.rollback_plan.strip()}"
    approval = _save_approval(locked, actor, actor_name, now=now, note=note, evidence_url=evidence_url, summary=summary)
    return _approved(actor, window, locked, approval, now=now, note=approval.note, evidence_url=approval.evidence_url)


def _save_approval(item, actor, actor_name, *, now, note="", evidence_url="", summary="") -> Approval:
    approval = Approval(
        item=item,
        user=actor,
        actor_name=actor_name,
        approved_at=now,
        note=note.strip(),
        evidence_url=evidence_url.strip(),
        evidence_summary=summary,
    )
    try:
        approval.full_clean(validate_constraints=False)
    except ValidationError as exc:
        raise DomainError(f"Cannot approve “{item.text}”:", details=exc.messages) from None
    try:
        with transaction.atomic():
            approval.save()
    except IntegrityError:
        # Another request of the same person won the race; the database constraint is the last word.
        raise PolicyViolation(f"Cannot approve “{item.text}”: {actor_name} has already approved it.") from None
    return approval


@transaction.atomic
def checklist_confirm_on_call(
    *, actor, window: MaintenanceWindow, note: str = "", now: datetime | None = None
) -> Approval:
    """The window's on-call engineer confirms being available: their own act, so no approver role is needed and
    separation of duties does not apply (an owner who is also on call may confirm). Audited."""
    now = _now(now)
    if not _is_user(actor):
        raise DomainError("Only the on-call engineer in person can confirm being available.")
    locked_window = _lock(window)
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
    became_done = _refresh_done(locked, locked_window, now)
    record(
        actor=actor,
        action="maintenance.on_call.confirmed",
        target=locked_window,
        data={
            "item": locked.text,
            "item_id": locked.pk,
            "phase": locked.phase,
            "approval_id": approval.pk,
            "on_call_engineer": actor_name,
            "note": approval.note,
            "item_done": locked.done_at is not None,
            "became_done": became_done,
        },
    )
    _maybe_close(locked_window, now=now)
    _refresh(window, locked_window)
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
        event="maintenance.on_call_requested",
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
    _, actor_name = actor_fields(actor)
    for approval in (
        item.approvals.select_for_update().filter(revoked_at__isnull=True).exclude(user_id=window.on_call_engineer_id)
    ):
        approval.revoked_at = now
        approval.save(update_fields=["revoked_at"])
        ApprovalRevocation.objects.create(
            approval=approval,
            revoked_by=actor if _is_user(actor) else None,
            revoked_by_name=actor_name,
            revoked_at=now,
            reason="The window's on-call engineer changed.",
        )
        record(
            actor=actor,
            action="maintenance.checklist.revoked",
            target=window,
            data={
                "item": item.text,
                "item_id": item.pk,
                "approval_id": approval.pk,
                "approved_by": approval.actor_name,
                "reason": "The window's on-call engineer changed.",
            },
        )
    _refresh_done(item, window, now)
    if window.status == WindowStatus.SCHEDULED:
        _ask_on_call(window, actor=actor)


@transaction.atomic
def checklist_revoke(*, actor, approval: Approval, reason: str, now: datetime | None = None) -> ApprovalRevocation:
    """Withdraw a live approval: recorded as its own row and event; the approval itself is kept."""
    now = _now(now)
    item = ChecklistItem.objects.get(pk=approval.item_id)
    own_confirmation = item.key == ItemKey.ON_CALL_CONFIRMED and _is_user(actor) and approval.user_id == actor.pk
    if not own_confirmation:  # the on-call engineer may withdraw their own confirmation without the role
        _require(actor, PERM_APPROVE, "revoking checklist approvals")
    window = MaintenanceWindow.objects.select_for_update().get(pk=item.window_id)
    item = ChecklistItem.objects.select_for_update().get(pk=item.pk)
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    if locked.revoked_at is not None:
        raise PolicyViolation(f"This approval of “{item.text}” was already revoked.")
    if not (reason or "").strip():
        raise PolicyViolation("Say why the approval is revoked.")
    if window.closed_at is not None:
        raise PolicyViolation(f"“{window}” is closed; its checklist is history.")
    if window.status == WindowStatus.CANCELLED:
        raise PolicyViolation(f"“{window}” is cancelled; its checklist is history.")
    if _is_user(actor) and locked.user_id is not None and locked.user_id != actor.pk and not actor.is_superuser:
        raise PermissionRefused(f"Only {locked.actor_name} (or a superuser) can revoke their own approval.")
    _, actor_name = actor_fields(actor)
    locked.revoked_at = now
    locked.save(update_fields=["revoked_at"])
    revocation = ApprovalRevocation.objects.create(
        approval=locked,
        revoked_by=actor if _is_user(actor) else None,
        revoked_by_name=actor_name,
        revoked_at=now,
        reason=reason.strip(),
    )
    became_open = _refresh_done(item, window, now)
    record(
        actor=actor,
        action="maintenance.checklist.revoked",
        target=window,
        data={
            "item": item.text,
            "item_id": item.pk,
            "approval_id": locked.pk,
            "approved_by": locked.actor_name,
            "reason": revocation.reason,
            "item_done": item.done_at is not None,
            "became_open": became_open,
        },
    )
    return revocation


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


# --- sweepers (run every minute by django-q; each is idempotent) --------------------------------------------


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
        event="maintenance.summary",
        channel=Channel.SLACK_TEAM_OPS,
        status=DeliveryStatus.SENT,
    ):
        if on_delivery_sent(delivery) is not None:
            count += 1
    return count


def windows_mark_overdue(now: datetime | None = None) -> int:
    """Mark in-progress windows past their ETA as overdue and announce it once per overrun (per ETA value)."""
    now = _now(now)
    count = 0
    for pk in selectors.windows_past_eta(now=now).values_list("pk", flat=True):
        with transaction.atomic():
            window = MaintenanceWindow.objects.select_for_update().get(pk=pk)
            if not window.is_overdue(now) or window.overdue_notified_eta == window.eta:
                continue
            first = window.overdue_since is None
            window.overdue_since = window.overdue_since or now
            window.overdue_notified_eta = window.eta
            _clean_and_save(window)
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
                event="maintenance.overdue",
                subject=messages.overdue_subject(window),
                body=messages.overdue_text(window, now=now),
                actor=SWEEPER_ACTOR,
            )
            count += 1
    return count


def windows_send_reminders(now: datetime | None = None) -> int:
    """Remind the routine windows' channels shortly before start (OPS_MAINTENANCE_REMINDER_MINUTES), once each."""
    now = _now(now)
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
            _clean_and_save(window)
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
                event="maintenance.reminder",
                subject=messages.reminder_subject(window),
                body=messages.reminder_text(window),
                actor=SWEEPER_ACTOR,
            )
            count += 1
    return count


# --- freezes and checklist templates (admin-edited configuration, audited) -----------------------------------


def _freeze_data(freeze) -> dict:
    return {"name": freeze.name, "start": freeze.start, "end": freeze.end, "reason": freeze.reason}


@transaction.atomic
def freeze_save(*, actor, freeze) -> list[MaintenanceWindow]:
    """Create or change a freeze period. Returns the scheduled windows already inside it (to warn the operator)."""
    from maintenance.models import FreezePeriod

    before = _freeze_data(FreezePeriod.objects.select_for_update().get(pk=freeze.pk)) if freeze.pk else None
    try:
        freeze.full_clean()
    except ValidationError as exc:
        raise DomainError("The freeze period is not valid:", details=exc.messages) from None
    freeze.save()
    record(
        actor=actor,
        action="maintenance.freeze.updated" if before else "maintenance.freeze.created",
        target=freeze,
        data={"before": before, "after": _freeze_data(freeze)},
    )
    return list(
        MaintenanceWindow.objects.filter(
            status__in=(WindowStatus.SCHEDULED, WindowStatus.IN_PROGRESS),
            planned_start__lt=freeze.end,
            planned_end__gt=freeze.start,
        ).exclude(type=MaintenanceType.EMERGENCY)
    )


@transaction.atomic
def freeze_delete(*, actor, freeze) -> None:
    record(actor=actor, action="maintenance.freeze.deleted", target=freeze, data={"before": _freeze_data(freeze)})
    freeze.delete()


def checklist_template_snapshot(template) -> dict:
    if template is None or template.pk is None:
        return {}
    return {
        "phase": template.phase,
        "title": template.title,
        "items": [
            {"order": i.order, "text": i.text, "key": i.key, "required_approvals": i.required_approvals}
            for i in template.items.order_by("order", "id")
        ],
    }


def checklist_template_record_change(*, actor, template, before: dict) -> None:
    """Audit an admin edit of a checklist template (existing windows keep their own copies)."""
    after = checklist_template_snapshot(template)
    if before != after:
        record(
            actor=actor,
            action="maintenance.checklist_template.changed",
            target=template,
            data={"before": before, "after": after},
        )

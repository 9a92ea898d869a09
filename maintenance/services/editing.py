"""Creating and editing a window."""

from __future__ import annotations

from datetime import datetime

from django.db import models, transaction

from ersen_ops.audit.services import record
from ersen_ops.core import kit
from ersen_ops.core.errors import DomainError, InvalidTransition
from ersen_ops.core.services import current_phase
from maintenance import messages
from maintenance.choices import WindowEvent, WindowStatus
from maintenance.models import (
    MaintenanceWindow,
)
from maintenance.services.checks import (
    schedule_violations,
)
from maintenance.services.helpers import (
    ANNOUNCED_FIELDS,
    EDITABLE_FIELDS,
    PERM_ADD,
    PERM_CHANGE,
    SCHEDULE_FIELDS,
    WINDOW_FIELDS,
    WINDOW_INVALID,
    _announce,
    _is_user,
    _raise_violations,
    _snapshot,
)
from maintenance.services.on_call import _on_call_changed


@transaction.atomic
def window_create(*, actor, components=(), **fields) -> MaintenanceWindow:
    """A new draft window. Nothing is announced until it is scheduled."""
    kit.require(actor, PERM_ADD, what="creating maintenance windows")
    unknown = set(fields) - set(WINDOW_FIELDS)
    if unknown:
        raise DomainError(f"Unknown window fields: {', '.join(sorted(unknown))}.")
    if fields.get("owner") is None and _is_user(actor):
        fields["owner"] = actor
    window = MaintenanceWindow(status=WindowStatus.DRAFT, **fields)
    kit.clean_and_save(window, lead=WINDOW_INVALID)
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
    now = kit.now_or(now)
    kit.require(actor, PERM_CHANGE, what="editing maintenance windows")
    locked = kit.lock(window)
    unknown = set(changes) - set(WINDOW_FIELDS)
    if unknown:
        raise DomainError(f"Unknown window fields: {', '.join(sorted(unknown))}.")
    changed = {k: v for k, v in changes.items() if getattr(locked, k) != v}
    old_components = sorted(locked.components.values_list("pk", flat=True))
    new_components = sorted(c.pk for c in components) if components is not None else old_components
    if new_components != old_components:
        changed["components"] = new_components
    if not changed:
        kit.copy_saved_state(window, locked)
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
    kit.clean_and_save(locked, lead=WINDOW_INVALID)
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
            event=WindowEvent.RESCHEDULED if rescheduled else WindowEvent.UPDATED,
            subject=messages.rescheduled_subject(locked) if rescheduled else messages.scheduled_subject(locked),
            body=body,
            actor=actor,
        )
    kit.copy_saved_state(window, locked)
    return window

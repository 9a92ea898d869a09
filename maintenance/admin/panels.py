"""The panels of a window's change page: the strip at the top, the checklists, runbook runs, next slots."""

from __future__ import annotations

from django.template.loader import render_to_string
from django.utils import timezone

from ersen_ops.core.display import status_badge
from maintenance import messages as texts
from maintenance import policy, registry, selectors, services
from maintenance.admin.actions import APPROVE
from maintenance.admin.confirmations import _channel_list, _schedule_refusals, _utc
from maintenance.choices import STATUS_COLOURS, TYPE_COLOURS, ChecklistPhase, ItemKey, MaintenanceType, WindowStatus


def _phase_closed_reason(phase, obj) -> str:
    """'Approvable while the window is in progress (it is scheduled).' — said once per phase, not on every item."""
    allowed = " or ".join(WindowStatus(s).label.lower() for s in policy.APPROVABLE_IN[phase])
    state = "closed" if obj.closed_at else obj.get_status_display().lower()
    return f"Approvable while the window is {allowed} (it is {state})."


def _contributed_panels(request, obj) -> list[str]:
    """The panels the apps above maintenance registered (runbooks: runs and Run buttons), rendered in order."""
    rendered = []
    for panel in registry.window_panels():
        context = panel.context(request, obj)
        if context is not None:
            rendered.append(render_to_string(panel.template, {"original": obj, **context}, request=request))
    return rendered


def _slot(start, slot_end, obj) -> dict:
    """A next valid routine slot, with the values "Use this slot" types into the form (the operator's zone,
    which is the zone the admin's date/time inputs are in), keeping the window's duration inside the slot."""
    duration = obj.planned_duration or (slot_end - start)
    end = min(start + duration, slot_end)
    local_start, local_end = timezone.localtime(start), timezone.localtime(end)
    return {
        "pacific": policy.fmt_local_range(start, end),
        "utc": _utc(start),
        "start_date": f"{local_start:%Y-%m-%d}",
        "start_time": f"{local_start:%H:%M:%S}",
        "end_date": f"{local_end:%Y-%m-%d}",
        "end_time": f"{local_end:%H:%M:%S}",
        "range": policy.fmt_local_range(start, end),
    }


def _strip(obj, now) -> dict:
    """The window at a glance (the top of its page): when in Pacific, the operator's zone and UTC; how long until."""
    from ersen_ops.core.display import duration, in_local, operator_zone_differs

    start, end = obj.planned_start, obj.planned_end
    relative, late = "", False
    if obj.status == WindowStatus.SCHEDULED:
        late = start <= now
        relative = f"start was due {duration(now - start)} ago" if late else f"starts in {duration(start - now)}"
    elif obj.status == WindowStatus.DRAFT:
        relative = "not announced (draft)" + (
            f" · planned in {duration(start - now)}" if start > now else " · planned start has passed"
        )
    elif obj.status == WindowStatus.IN_PROGRESS and obj.actual_start:
        relative = f"running for {duration(now - obj.actual_start)}"
    return {
        "type_badge": status_badge(obj.type, obj.get_type_display().split(" (")[0], TYPE_COLOURS),
        "status_badge": status_badge(obj.status, obj.get_status_display(), STATUS_COLOURS),
        "when": policy.fmt_local_range(start, end),
        "local_when": f"{in_local(start, 'D H:i')}–{in_local(end, 'H:i T')}" if operator_zone_differs() else "",
        "utc_when": f"{_utc(start)}",
        "relative": relative,
        "late": late,
        "components": ", ".join(c.name for c in obj.components.all()),
        "month": policy.fmt_local(start, "Y-m"),
    }


def window_panels(model_admin, request, obj) -> dict:
    """Everything the change page shows beside the form (`model_admin` answers the permission questions)."""
    from django.urls import reverse

    now = timezone.now()
    can_approve = request.user.has_perm(APPROVE)
    base = reverse("admin:maintenance_maintenancewindow_workflow", args=[obj.pk, "approve"])
    revoke = reverse("admin:maintenance_maintenancewindow_workflow", args=[obj.pk, "revoke"])
    phases = []
    role_refusal = ""
    on_call_url = reverse("admin:maintenance_maintenancewindow_on_call", args=[obj.pk])
    site_phase = services.current_phase()
    for phase, label, items in selectors.checklist_by_phase(obj):
        rows = []
        phase_closed = ""
        for item in items:
            approvals = list(item.approvals.all())
            row = {
                "item": item,
                "approvals": approvals,
                "approve_url": "",
                "confirm_url": "",
                "refusal": "",
                "needs": services.item_requirements(obj, item, request.user, phase=site_phase),
                "revoke_url": revoke,
                "debt": phase == ChecklistPhase.BEFORE
                and not item.done_at
                and obj.status in (WindowStatus.IN_PROGRESS, WindowStatus.COMPLETED),
            }
            if not item.done_at:
                refusals = services.approval_refusals(obj, item, request.user, phase=site_phase)
                if refusals and refusals[0].rule == "state":
                    phase_closed = "yes"  # said once at the phase's heading
                elif refusals and refusals[0].rule == "role":
                    role_refusal = refusals[0].message  # said once above the checklists
                elif refusals:
                    row["refusal"] = " ".join(v.message for v in refusals)
                elif item.key == ItemKey.ON_CALL_CONFIRMED:
                    row["confirm_url"] = on_call_url
                else:
                    row["approve_url"] = f"{base}?item={item.pk}"
            rows.append(row)
        done = sum(1 for i in items if i.done_at)
        phases.append(
            {
                "phase": phase,
                "label": label,
                "rows": rows,
                "done": done,
                "total": len(items),
                "closed_reason": _phase_closed_reason(phase, obj) if phase_closed else "",
            }
        )
    slots = []
    if obj.type == MaintenanceType.ROUTINE and obj.status in (WindowStatus.DRAFT, WindowStatus.SCHEDULED):
        slots = services.valid_slots(obj, now=now)  # the same check as scheduling: never a taken slot
    policy_check = []
    if obj.status == WindowStatus.DRAFT:
        policy_check = _schedule_refusals(obj)
    return {
        "strip": _strip(obj, now),
        "contributed_panels": _contributed_panels(request, obj),
        "announcement": obj.announcement or texts.announcement_text(obj),
        "announcement_published": bool(obj.announcement),
        "channels": _channel_list(services.window_channels(obj)),
        "channel_reasons": policy.channels_for(
            obj.type, obj.scheduled_phase or services.current_phase(), obj.planned_duration
        ).reasons,
        "next_slots": [_slot(s, e, obj) for s, e in slots],
        "routine_rule": policy.routine_rule_text(),
        "slots_offered": obj.type == MaintenanceType.ROUTINE
        and obj.status in (WindowStatus.DRAFT, WindowStatus.SCHEDULED),
        "slots_pickable": obj.status in (WindowStatus.DRAFT, WindowStatus.SCHEDULED)
        and model_admin.has_change_permission(request, obj),
        "policy_check": policy_check,
        "policy_checked": obj.status == WindowStatus.DRAFT,
        "phases": phases,
        "can_approve": can_approve,
        "approve_role_refusal": role_refusal,
        "can_revoke_any": request.user.is_superuser,
        "eta_changes": list(obj.eta_changes.all()),
        "overdue": obj.is_overdue(now),
        "overdue_by": policy.fmt_duration(now - obj.eta) if obj.is_overdue(now) else "",
    }

"""Read-only rule checks the services and the admin share: what forbids scheduling, starting, completing."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings

from ersen_ops.core.services import current_phase
from maintenance import policy, selectors
from maintenance.choices import ItemKey, WindowStatus
from maintenance.models import (
    ChecklistTemplateItem,
    MaintenanceWindow,
)


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

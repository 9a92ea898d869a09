"""Read-only rule checks the services and the admin share: what forbids scheduling, starting, completing."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from django.conf import settings

from ersen_ops.core.errors import InvalidTransition
from ersen_ops.core.services import current_phase
from maintenance import policy, selectors
from maintenance.choices import ItemKey, WindowStatus
from maintenance.models import (
    ChecklistTemplateItem,
    MaintenanceWindow,
)
from maintenance.services.helpers import _raise_violations


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
    """What forbids (re)scheduling `window` at `now`, given the freezes and the other windows. Read-only.

    A draft being scheduled also needs the people its checklist names; a scheduled window being moved does not
    (it already has them). The same rule as `window_actions()["schedule"]` (`policy.check_scheduling`)."""
    return policy.check_scheduling(
        _action_facts(window, now=now, phase=phase, component_ids=component_ids, schedule_justification=justification),
        now,
    )


def valid_slots(
    window: MaintenanceWindow, *, now: datetime, count: int = 4, phase=None
) -> list[tuple[datetime, datetime]]:
    """The next routine slots where `window` passes the same check as scheduling (policy.valid_slots). Read-only."""
    facts, freezes, others = _schedule_context(window, now=now)
    return policy.valid_slots(facts, now, phase or current_phase(), freezes=freezes, overlapping=others, count=count)


def _template_needs() -> list[policy.ChecklistNeed]:
    return [
        policy.ChecklistNeed(text=t.text, phase=t.template.phase, key=t.key, required_approvals=t.required_approvals)
        for t in ChecklistTemplateItem.objects.select_related("template")
    ]


def people_violations(
    window: MaintenanceWindow, *, phase: str, template_needs=None, approvers=None
) -> list[policy.Violation]:
    """Who is missing for `window`'s checklist ever to be completed (the items it gets, the people who exist).
    `template_needs` and `approvers`, when given, are read once for many windows (the control room)."""
    from ersen_ops.core.roles import APPROVERS

    if window.pk and template_needs is None and window.checklist_items.exists():
        items = [
            policy.ChecklistNeed(text=i.text, phase=i.phase, key=i.key, required_approvals=i.required_approvals)
            for i in window.checklist_items.all()
        ]
    else:
        items = _template_needs() if template_needs is None else template_needs
    return policy.check_people(
        items=items,
        window_type=window.type,
        phase=phase,
        owner=selectors.person(window.owner) if window.owner_id else None,
        on_call=selectors.person(window.on_call_engineer) if window.on_call_engineer_id else None,
        approvers=selectors.approvers() if approvers is None else approvers,
        owner_may_self_approve=settings.OPS_OWNER_MAY_SELF_APPROVE,
        approver_role=APPROVERS,
    )


def _action_facts(
    window: MaintenanceWindow,
    *,
    now: datetime,
    phase=None,
    justification: str = "",
    items=None,
    component_ids=None,
    schedule_justification: str | None = None,
    schedule_context: bool = True,
) -> policy.ActionFacts:
    phase = phase or current_phase()
    if schedule_context:
        facts, freezes, others = _schedule_context(
            window, now=now, component_ids=component_ids, justification=schedule_justification
        )
    else:  # not a draft: scheduling is not open, so neither freezes nor other windows are read
        facts, freezes, others = selectors.window_state_facts(window), [], []
    people = people_violations(window, phase=phase) if schedule_context and window.status == WindowStatus.DRAFT else []
    items = list(window.checklist_items.all()) if items is None else items
    within_eta = _finished_within_eta(window, now)
    return policy.ActionFacts(
        window=facts,
        phase=phase,
        start_phase=window.scheduled_phase or phase,
        items=tuple(
            # "Update ETA if running long": it did not run long, which completing knows for a fact.
            policy.ItemFacts(
                text=i.text,
                phase=i.phase,
                done=i.done_at is not None or (i.key == ItemKey.UPDATE_ETA and within_eta),
            )
            for i in items
        ),
        freezes=tuple(freezes),
        overlapping=tuple(others),
        people=tuple(people),
        justification=justification,
        closed=window.closed_at is not None,
    )


def window_action_facts(
    window: MaintenanceWindow, *, now: datetime, justification: str = "", items=None, phase=None
) -> policy.ActionFacts:
    """The facts `policy.window_actions` looks at for `window` at `now` (the freezes, other windows and people
    only for a draft, the one state that may be scheduled). Read-only."""
    return _action_facts(
        window,
        now=now,
        phase=phase,
        justification=justification,
        items=items,
        schedule_justification=justification or None,  # an emergency's: may lift a freeze
        schedule_context=window.status == WindowStatus.DRAFT,
    )


def window_actions(
    window: MaintenanceWindow, *, now: datetime, justification: str = "", items=None, phase=None
) -> dict[str, list[policy.Violation]]:
    """Every workflow action on `window` and what refuses it at `now` (`policy.window_actions`). Read-only: the
    admin's buttons, the control room and the services all ask this."""
    facts = window_action_facts(window, now=now, justification=justification, items=items, phase=phase)
    return policy.window_actions(facts, now)


def window_actions_many(windows, *, now: datetime, phase=None) -> dict[int, dict[str, list[policy.Violation]]]:
    """`window_actions` of many windows (pk → actions) in a bounded number of queries, whatever their number:
    the drafts' freezes, other windows, checklist templates and approvers are read once for all of them. Pass
    windows with their components and checklist items prefetched (the control room does)."""
    windows = list(windows)
    phase = phase or current_phase()
    drafts = [w for w in windows if w.status == WindowStatus.DRAFT]
    schedule = {}
    if drafts:
        facts = {w.pk: selectors.window_facts(w) for w in drafts}
        start = min(min(f.planned_start for f in facts.values()), now)
        end = max(max(f.planned_end, now + policy.POLICY[f.type].notice) for f in facts.values())
        end += policy.SLOT_SEARCH + timedelta(days=1)
        freezes = tuple(selectors.freezes_overlapping(start=start, end=end))
        components = frozenset().union(*(f.components for f in facts.values()))
        others = selectors.windows_overlapping(start=start, end=end, component_ids=components)
        needs, approvers = _template_needs(), selectors.approvers()
        for w in drafts:
            people = people_violations(w, phase=phase, template_needs=needs, approvers=approvers)
            schedule[w.pk] = {
                "window": facts[w.pk],
                "freezes": freezes,
                "overlapping": tuple(o for o in others if o.public_id != w.public_id),
                "people": tuple(people),
            }
    actions = {}
    for w in windows:
        facts = _action_facts(w, now=now, phase=phase, items=list(w.checklist_items.all()), schedule_context=False)
        if w.pk in schedule:
            facts = dataclasses.replace(facts, **schedule[w.pk])
        actions[w.pk] = policy.window_actions(facts, now)
    return actions


def raise_refusals(actions: dict[str, list[policy.Violation]], action: str, *, lead: str) -> None:
    """A service's check: the state rule raises InvalidTransition, any other refusal PolicyViolation."""
    refusals = actions[action]
    if refusals and refusals[0].rule == "state":
        raise InvalidTransition(refusals[0].message)
    _raise_violations(refusals, lead)


def start_refusals(window: MaintenanceWindow, *, now: datetime, justification: str = "", items=None):
    """Why `window` cannot start at `now`, beyond its state (empty: it can). Read-only."""
    return [
        v
        for v in window_actions(window, now=now, justification=justification, items=items)["start"]
        if v.rule != "state"
    ]


def complete_refusals(window: MaintenanceWindow, *, now: datetime):
    """Why `window` cannot complete at `now`, beyond its state (empty: it can). Read-only."""
    return [v for v in window_actions(window, now=now)["complete"] if v.rule != "state"]


def _finished_within_eta(window: MaintenanceWindow, now: datetime) -> bool:
    return window.overdue_since is None and window.eta is not None and now <= window.eta

"""A person's approval of a checklist item, and its revocation."""

from __future__ import annotations

import dataclasses
from datetime import datetime

from django.db import transaction

from ersen_ops.audit.services import actor_fields
from ersen_ops.core import kit
from ersen_ops.core.errors import DomainError, PermissionRefused, PolicyViolation
from maintenance import policy
from maintenance.choices import ItemKey
from maintenance.models import (
    Approval,
    ApprovalRevocation,
    ChecklistItem,
    MaintenanceWindow,
)
from maintenance.services.checklist import (
    _approved,
    _revoke,
    _save_approval,
    approval_facts,
)
from maintenance.services.helpers import (
    PERM_APPROVE,
    _is_user,
    _raise_violations,
)
from maintenance.services.on_call import checklist_confirm_on_call


@transaction.atomic
def checklist_approve(
    *, actor, item: ChecklistItem, note: str = "", evidence_url: str = "", now: datetime | None = None
) -> Approval:
    """One person's approval of one checklist item (one live approval per person per item).

    The on-call item is the on-call engineer's own confirmation: it goes to `checklist_confirm_on_call`.
    """
    now = kit.now_or(now)
    if not _is_user(actor):
        raise DomainError("A checklist approval by a person needs a user; system approvals carry evidence.")
    if item.key == ItemKey.ON_CALL_CONFIRMED:
        return checklist_confirm_on_call(actor=actor, window=item.window, note=note, now=now)
    kit.require(actor, PERM_APPROVE, what="approving checklist items")
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


@transaction.atomic
def checklist_revoke(*, actor, approval: Approval, reason: str, now: datetime | None = None) -> ApprovalRevocation:
    """Withdraw a live approval: recorded as its own row and event; the approval itself is kept."""
    now = kit.now_or(now)
    item = ChecklistItem.objects.get(pk=approval.item_id)
    own_confirmation = item.key == ItemKey.ON_CALL_CONFIRMED and _is_user(actor) and approval.user_id == actor.pk
    if not own_confirmation:  # the on-call engineer may withdraw their own confirmation without the role
        kit.require(actor, PERM_APPROVE, what="revoking checklist approvals")
    window = MaintenanceWindow.objects.select_for_update().get(pk=item.window_id)
    item = ChecklistItem.objects.select_for_update().get(pk=item.pk)
    locked = Approval.objects.select_for_update().get(pk=approval.pk)
    if locked.revoked_at is not None:
        raise PolicyViolation(f"This approval of “{item.text}” was already revoked.")
    if not (reason or "").strip():
        raise PolicyViolation("Say why the approval is revoked.")
    history = policy.checklist_refusal(status=window.status, closed=window.closed_at is not None, title=str(window))
    if history is not None:
        raise PolicyViolation(history.message)
    if _is_user(actor) and locked.user_id is not None and locked.user_id != actor.pk and not actor.is_superuser:
        raise PermissionRefused(f"Only {locked.actor_name} (or a superuser) can revoke their own approval.")
    return _revoke(window, item, locked, actor=actor, reason=reason.strip(), now=now)

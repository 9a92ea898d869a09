"""The checklist's mechanics: an item's done state, system approvals with evidence, the approval facts, closing."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ersen_ops.audit.services import actor_fields, record
from ersen_ops.core import kit
from ersen_ops.core.errors import DomainError, PolicyViolation
from ersen_ops.core.services import current_phase
from maintenance import policy, selectors
from maintenance.choices import ItemKey, WindowStatus
from maintenance.evidence import ChecklistEvidence
from maintenance.models import (
    Approval,
    ApprovalRevocation,
    ChecklistItem,
    MaintenanceWindow,
)
from maintenance.services.helpers import (
    PERM_APPROVE,
    SYSTEM_ACTOR,
    WINDOW_INVALID,
    _is_user,
)


def _maybe_close(window: MaintenanceWindow, *, now: datetime) -> bool:
    """Completed windows close once every "after" item is done. Call with the window locked."""
    if window.status != WindowStatus.COMPLETED or window.closed_at is not None:
        return False
    items = list(window.checklist_items.all())
    if not policy.ready_to_close(selectors.item_facts(items)):
        return False
    window.closed_at = now
    kit.clean_and_save(window, lead=WINDOW_INVALID)
    record(
        actor=SYSTEM_ACTOR,
        action="maintenance.window.closed",
        target=window,
        data={"before": {"closed_at": None}, "after": {"closed_at": now}, "note": "every “after” item is done"},
    )
    return True


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


def _evidence_fields(evidence: ChecklistEvidence) -> dict:
    fields = {"evidence_url": evidence.url}
    if evidence.source_kind:
        app_label, _, model = evidence.source_kind.partition(".")
        try:
            fields["evidence_type"] = ContentType.objects.get_by_natural_key(app_label, model)
        except ContentType.DoesNotExist:
            raise DomainError(
                f"Unknown kind of evidence “{evidence.source_kind}” (expected app_label.model)."
            ) from None
        fields["evidence_id"] = evidence.source_id
    return fields


def _system_approve(
    window: MaintenanceWindow, key: str, *, evidence, summary: str, now: datetime, only_if_open: bool = False
):
    """A system approval proved by one of maintenance's own records (a delivery, an ETA change) or, with None,
    by a fact the system knows. Goes the one way evidence goes (`_record_evidence`)."""
    source = {"source_kind": evidence._meta.label_lower, "source_id": str(evidence.pk)} if evidence is not None else {}
    return _record_evidence(
        window, ChecklistEvidence(item_key=key, summary=summary, **source), now=now, only_if_open=only_if_open
    )


def _record_evidence(window: MaintenanceWindow, evidence: ChecklistEvidence, *, now: datetime, only_if_open=False):
    """Approve the window's item that `evidence` proves, as the system actor. Idempotent. Window must be locked."""
    item = window.checklist_items.select_for_update().filter(key=evidence.item_key).first()
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
        evidence_summary=evidence.summary,
        **_evidence_fields(evidence),
    )
    approval.full_clean(validate_constraints=False)
    approval.save()
    details = {}
    if evidence.source_public_id:
        details["evidence_public_id"] = evidence.source_public_id
    if evidence.at is not None:
        details["evidence_at"] = evidence.at
    return _approved(
        SYSTEM_ACTOR,
        window,
        item,
        approval,
        now=now,
        evidence=f"{approval.evidence_type.model} #{approval.evidence_id}" if approval.evidence_type else "",
        evidence_summary=evidence.summary,
        **details,
    )


def _approved(
    actor,
    window: MaintenanceWindow,
    item: ChecklistItem,
    approval: Approval,
    *,
    now,
    action: str = "maintenance.checklist.approved",
    **details,
):
    """After an approval is saved: the item's done state, the audit event (with `details`), a possible close."""
    became_done = _refresh_done(item, window, now)
    record(
        actor=actor,
        action=action,
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


def _revoke(window: MaintenanceWindow, item: ChecklistItem, approval: Approval, *, actor, reason: str, now):
    """Withdraw a live approval (locked): the approval is kept, marked revoked; its own row says who and why;
    the item's done state follows; audited."""
    _, actor_name = actor_fields(actor)
    approval.revoked_at = now
    approval.save(update_fields=["revoked_at"])
    revocation = ApprovalRevocation.objects.create(
        approval=approval,
        revoked_by=actor if _is_user(actor) else None,
        revoked_by_name=actor_name,
        revoked_at=now,
        reason=reason,
    )
    became_open = _refresh_done(item, window, now)
    record(
        actor=actor,
        action="maintenance.checklist.revoked",
        target=window,
        data={
            "item": item.text,
            "item_id": item.pk,
            "approval_id": approval.pk,
            "approved_by": approval.actor_name,
            "reason": revocation.reason,
            "item_done": item.done_at is not None,
            "became_open": became_open,
        },
    )
    return revocation

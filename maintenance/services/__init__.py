"""Every state change of a maintenance window, its checklist and its approvals.

One function per transition. Each one locks the window (`select_for_update`),
checks the rules (`maintenance.policy`), changes, `full_clean()`s, saves,
audits in the same transaction and announces through `notify()` (queued after
commit). Admin views, tasks, commands and other apps call these; none of them
repeats a rule.

One module per concern; this package re-exports their public names, so callers import from
`maintenance.services` as before:

- `helpers`: permissions, editable fields, locking, saving, announcing
- `checks`: read-only rule checks (schedule, start, complete)
- `checklist`: done state, system approvals, approval facts and refusals, closing
- `on_call`: asking and confirming the on-call engineer
- `approvals`: a person's approval and its revocation
- `evidence`: evidence from other apps (backups, the #team-ops summary)
- `editing`, `lifecycle`, `sweepers`, `config` (freezes and checklist templates)
- `deploy_gate`: may CI deploy these components now (read-only, audited)
"""

from ersen_ops.core.services import current_phase
from maintenance.services.approvals import checklist_approve, checklist_revoke
from maintenance.services.checklist import approval_facts, approval_refusal, approval_refusals, item_requirements
from maintenance.services.checks import (
    complete_refusals,
    people_violations,
    schedule_violations,
    start_refusals,
    valid_slots,
    window_action_facts,
    window_actions,
    window_actions_many,
)
from maintenance.services.config import (
    checklist_template_record_change,
    checklist_template_snapshot,
    freeze_delete,
    freeze_save,
)
from maintenance.services.deploy_gate import deploy_gate_check, split_components
from maintenance.services.editing import window_create, window_update
from maintenance.services.evidence import checklist_record_evidence, on_delivery_sent
from maintenance.services.helpers import (
    ANNOUNCED_FIELDS,
    EDITABLE_FIELDS,
    PERM_ADD,
    PERM_APPROVE,
    PERM_CHANGE,
    PERM_TRANSITION,
    RESOLVING_EVENTS,
    SCHEDULE_FIELDS,
    SWEEPER_ACTOR,
    SYSTEM_ACTOR,
    WINDOW_FIELDS,
    window_channels,
)
from maintenance.services.lifecycle import (
    window_cancel,
    window_complete,
    window_schedule,
    window_start,
    window_update_eta,
)
from maintenance.services.on_call import checklist_confirm_on_call, on_call_confirm_url
from maintenance.services.sweepers import checklist_sweep_sent_summaries, windows_mark_overdue, windows_send_reminders

__all__ = [
    "current_phase",
    "SYSTEM_ACTOR",
    "SWEEPER_ACTOR",
    "RESOLVING_EVENTS",
    "PERM_ADD",
    "PERM_CHANGE",
    "PERM_TRANSITION",
    "PERM_APPROVE",
    "EDITABLE_FIELDS",
    "SCHEDULE_FIELDS",
    "ANNOUNCED_FIELDS",
    "WINDOW_FIELDS",
    "window_channels",
    "schedule_violations",
    "valid_slots",
    "window_action_facts",
    "window_actions",
    "window_actions_many",
    "people_violations",
    "start_refusals",
    "complete_refusals",
    "approval_facts",
    "approval_refusals",
    "approval_refusal",
    "item_requirements",
    "checklist_confirm_on_call",
    "on_call_confirm_url",
    "checklist_approve",
    "checklist_revoke",
    "checklist_record_evidence",
    "on_delivery_sent",
    "window_create",
    "window_update",
    "window_schedule",
    "window_start",
    "window_update_eta",
    "window_complete",
    "window_cancel",
    "checklist_sweep_sent_summaries",
    "windows_mark_overdue",
    "windows_send_reminders",
    "freeze_save",
    "freeze_delete",
    "checklist_template_snapshot",
    "checklist_template_record_change",
    "deploy_gate_check",
    "split_components",
]

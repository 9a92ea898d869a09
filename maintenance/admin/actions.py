"""The window's workflow actions (Schedule, Start, Update ETA, Complete, Cancel; Approve / Revoke per item)."""

from __future__ import annotations

from ersen_ops.core.admin_workflow import (
    WorkflowAction,
    final,
)
from maintenance import forms as mforms
from maintenance import policy, services
from maintenance.admin.confirmations import (
    _actions,
    _blocked,
    _channel_list,
    _describe_cancel,
    _describe_complete,
    _describe_schedule,
    _describe_start,
    _open,
    _protocol_pointer,
    _utc,
)
from maintenance.choices import MaintenanceType, WindowStatus


def _perform_schedule(request, obj, data):
    services.window_schedule(actor=request.user, window=obj, justification=data.get("justification", ""))
    asked = (
        f" The on-call engineer {obj.on_call_engineer} is asked by email to confirm." if obj.on_call_engineer else ""
    )
    return f"Scheduled “{obj}”; the announcement is queued.{asked}"


def _perform_start(request, obj, data):
    services.window_start(actor=request.user, window=obj, justification=data.get("justification", ""))
    return f"“{obj}” is in progress; ETA {policy.fmt_local(obj.eta)}."


def _perform_eta(request, obj, data):
    services.window_update_eta(actor=request.user, window=obj, new_eta=data["new_eta"], reason=data["reason"])
    return f"New ETA {policy.fmt_local(data['new_eta'])} published."


def _perform_complete(request, obj, data):
    services.window_complete(actor=request.user, window=obj)
    return f"“{obj}” completed; the summary is queued for #team-ops."


def _perform_cancel(request, obj, data):
    services.window_cancel(actor=request.user, window=obj, reason=data["reason"])
    return f"“{obj}” cancelled."


def _perform_approve(request, obj, data):
    item = data["item"]
    services.checklist_approve(
        actor=request.user, item=item, note=data.get("note", ""), evidence_url=data.get("evidence_url", "")
    )
    return f"Approved “{item.text}”."


def _perform_revoke(request, obj, data):
    approval = data["approval"]
    services.checklist_revoke(actor=request.user, approval=approval, reason=data["reason"])
    return f"Revoked {approval.actor_name}'s approval of “{approval.item.text}”."


TRANSITION = services.PERM_TRANSITION
APPROVE = services.PERM_APPROVE

WINDOW_ACTIONS = [
    WorkflowAction(
        name="schedule",
        label="Schedule",
        permission=TRANSITION,
        perform=_perform_schedule,
        available=lambda o: _open(o, "schedule"),
        unavailable_reason=lambda o: _blocked(o, "schedule"),
        unavailable_summary=lambda o: _protocol_pointer(o) if _blocked(o, "schedule") else "",
        form_class=mforms.JustificationForm,
        describe=_describe_schedule,
        css_class="default",
    ),
    WorkflowAction(
        name="start",
        label="Start",
        permission=TRANSITION,
        perform=_perform_start,
        available=lambda o: _open(o, "start"),
        unavailable_reason=lambda o: _blocked(o, "start"),
        form_class=mforms.JustificationForm,
        describe=_describe_start,
        touches_production=True,
        reauthenticate=lambda o: o.type == MaintenanceType.EMERGENCY,  # starts at once, outside the protocol
    ),
    WorkflowAction(
        name="update_eta",
        label="Update ETA",
        permission=TRANSITION,
        perform=_perform_eta,
        available=lambda o: _open(o, "update_eta"),
        form_class=mforms.EtaForm,
        describe=lambda o: (
            f"Current ETA: {policy.fmt_local(o.eta)} ({_utc(o.eta)}). "
            f"The change is published to {_channel_list(services.window_channels(o))} and kept in the history."
        ),
    ),
    WorkflowAction(
        name="complete",
        label="Complete",
        permission=TRANSITION,
        perform=_perform_complete,
        available=lambda o: _open(o, "complete"),
        unavailable_reason=lambda o: _blocked(o, "complete"),
        form_class=mforms.NoFieldsForm,
        describe=_describe_complete,
    ),
    WorkflowAction(
        name="cancel",
        label="Cancel window",
        permission=TRANSITION,
        perform=_perform_cancel,
        available=lambda o: _open(o, "cancel"),
        form_class=mforms.CancelForm,
        describe=_describe_cancel,
        css_class="deletelink",
    ),
]

# Per-item actions: reached from the buttons in the checklist panel (?item= / ?approval=), not the toolbar.
ITEM_ACTIONS = ("approve", "revoke")


def _approve_form(obj, user):
    """The Approve form for this user (the items they can approve now), built once per request."""
    cache = obj.__dict__.setdefault("_approve_forms", {})
    if user.pk not in cache:
        cache[user.pk] = mforms.approve_form_for(obj, user)
    return cache[user.pk]


def _nothing_to_approve(obj, user) -> str:
    refusals = _actions(obj)["approve"]
    if refusals:  # no checklist yet (a draft), or it is history (closed, cancelled)
        return refusals[0].message if obj.status == WindowStatus.DRAFT else final(refusals[0].message)
    return (
        "Nothing you can approve now: every item open in this state is done, already approved by you, "
        "or needs something first (see the checklist)."
    )

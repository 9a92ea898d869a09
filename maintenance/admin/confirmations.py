"""What the workflow pages say: the confirmation steps of each action and why a button is unavailable."""

from __future__ import annotations

from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from ersen_ops.notifications import outcomes
from maintenance import messages as texts
from maintenance import policy, services
from maintenance.choices import MaintenanceType, WindowStatus
from maintenance.models import ChecklistTemplateItem


def _steps(*items, refusals=(), refusal_title="", extra=None):
    """'What happens when you confirm' as HTML: numbered steps, then any refusal, then extra (e.g. the text)."""
    parts = [
        format_html(
            "<p><strong>When you confirm:</strong></p><ol class='workflow-steps'>{}</ol>",
            format_html_join("", "<li>{}</li>", ((i,) for i in items if i)),
        )
    ]
    if refusals:
        parts.append(
            format_html(
                "<p class='errornote'><strong>{}</strong></p><ul class='errorlist'>{}</ul>",
                refusal_title,
                format_html_join("", "<li>{}</li>", ((v.message,) for v in refusals)),
            )
        )
    if extra:
        parts.append(extra)
    return format_html_join("", "{}", ((p,) for p in parts))


def _channel_list(values) -> str:
    # Each channel with what happens if it is not configured (it is skipped): never promise a message nobody gets.
    return outcomes.describe_channels(values)


def _component_list(obj) -> str:
    return ", ".join(c.name for c in obj.components.all()) or "no component"


def _describe_schedule(obj):
    now = timezone.now()
    plan = policy.channels_for(obj.type, services.current_phase(), obj.planned_duration)
    items = ChecklistTemplateItem.objects.count()
    slots = ""
    if obj.type == MaintenanceType.ROUTINE:
        found = services.valid_slots(obj, now=now)
        slots = format_html(
            "<p id='schedule-next-slots'>Next valid routine slots for this window: {}.</p>",
            ", ".join(policy.fmt_local_range(s, e) for s, e in found) or "none in the next weeks",
        )
    return _steps(
        format_html(
            "The window becomes <strong>Scheduled</strong> for {} ({} your time) on {}.",
            policy.fmt_local_range(obj.planned_start, obj.planned_end),
            _local(obj.planned_start),
            _component_list(obj),
        ),
        format_html(
            "The announcement below is published <strong>now</strong> to: {}. {}",
            _channel_list(plan.channels),
            " ".join(plan.reasons),
        ),
        "The public status page lists it under scheduled maintenance; the calendar feed gets it.",
        "The before / during / after checklists are copied from the templates"
        + (f" ({items} items)" if items else "")
        + "; approvers can then approve the “before” items. Start needs all of them.",
        # Routine and urgent refusals are the page's error (no Confirm button); an emergency may override some.
        # (What no justification overrides is the page's error, said once there.)
        refusals=_overridable(obj, "schedule"),
        refusal_title="The protocol refuses it as it stands; a written justification may override a freeze:",
        extra=format_html(
            "{}<p><strong>Announcement</strong> (the seed's template):</p><pre class='announcement'>{}</pre>",
            slots,
            texts.announcement_text(obj),
        ),
    )


def _describe_start(obj):
    now = timezone.now()
    late = obj.planned_start < now
    return _steps(
        mark_safe("The window becomes <strong>In progress</strong>; its actual start is now."),
        format_html("ETA (estimated completion): {}.", _start_eta(obj, now, late)),
        format_html("The public status page shows <strong>{}</strong> as Under maintenance.", _component_list(obj)),
        format_html("“Under Maintenance” is announced to: {}.", _channel_list(services.window_channels(obj))),
        "The “during” checklist opens; Complete needs all of it.",
        # An emergency may start anyway (with a written justification): say what it starts without.
        refusals=_overridable(obj, "start"),
        refusal_title="Starting now needs a written justification below; open “before” items stay as red debt:",
    )


def _describe_complete(obj):
    return _steps(
        "The window becomes Completed; its actual end is now.",
        format_html(
            "The public status page shows <strong>{}</strong> as Operational again (unless an open incident says otherwise).",
            _component_list(obj),
        ),
        format_html("“Operational” is announced to: {}.", _channel_list(services.window_channels(obj))),
        format_html(
            "The post-maintenance summary (planned vs actual, checklist, runbook runs, incidents) is stored and sent "
            "to: {}.",
            _channel_list(policy.SUMMARY_CHANNELS),
        ),
        "The “after” checklist opens; the window is closed once all of it is done.",
    )


def _describe_cancel(obj):
    if obj.status == WindowStatus.SCHEDULED:
        return _steps(
            "The window becomes Cancelled. This cannot be undone (plan a new window instead).",
            format_html(
                "The cancellation and your reason are announced to: {}.", _channel_list(services.window_channels(obj))
            ),
            "The public status page and the calendar feed mark it cancelled.",
        )
    return _steps("The draft becomes Cancelled. Nothing was announced, so nothing is sent.")


def _start_eta(obj, now, late: bool) -> str:
    if late:
        return f"now + the planned {policy.fmt_duration(obj.planned_duration)} (it starts after its planned start)"
    return policy.fmt_local(obj.eta or obj.planned_end)


def _local(dt) -> str:
    from ersen_ops.core.display import in_local

    return in_local(dt, "D H:i T")


def _actions(obj) -> dict[str, list]:
    """What the rules say about every workflow action on `obj` now (`services.window_actions`), asked once per
    page: the buttons, the confirmation pages and the panels all read this answer."""
    if "_window_actions" not in obj.__dict__:
        obj._window_actions = services.window_actions(obj, now=timezone.now())
    return obj._window_actions


def _open(obj, action: str) -> bool:
    """The button is offered: nothing refuses the action, or only what a justification on its page may lift."""
    return not policy.blocking(_actions(obj), obj.type)[action]


def _blocked(obj, action: str) -> str:
    """Why an action of this state is unavailable, in the rules' words ("" when it is open, or not one of this
    state's actions at all: then there is no button to explain)."""
    refusals = _actions(obj)[action]
    if refusals and refusals[0].rule == "state":
        return ""
    return " ".join(v.message for v in policy.blocking(_actions(obj), obj.type)[action])


def _overridable(obj, action: str) -> list:
    """What the confirmation page asks a justification for (emergency windows: a freeze, open "before" items)."""
    return [v for v in _actions(obj)[action] if policy.overridable(action, obj.type, v)]


def _schedule_refusals(obj) -> list:
    """What the protocol says about scheduling `obj` now (the "Protocol check" panel); empty unless a draft."""
    return [v for v in _actions(obj)["schedule"] if v.rule != "state"]


RULE_NAMES = {
    "notice": "notice",
    "slot": "slot",
    "overlap": "overlap",
    "freeze": "freeze",
    "past": "in the past",
    "end_after_start": "end before start",
    "components": "no component",
    "people": "people missing",
}


def _protocol_pointer(obj) -> str:
    """'the protocol refuses it (notice, slot): see “Protocol check” below.' — the full text is said once, there."""
    rules = list(dict.fromkeys(RULE_NAMES.get(v.rule, v.rule) for v in _schedule_refusals(obj)))
    return f"the protocol refuses it ({', '.join(rules)}): see “Protocol check” below."


def _utc(dt):
    from ersen_ops.core.display import in_utc

    return in_utc(dt)

"""Texts of a window's announcements: the seed's Communication Template and the lifecycle updates.

Rendering only (no database writes). Times are shown in Pacific time with PST/PDT,
as the seed's template writes them.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.template.loader import render_to_string

from maintenance.choices import ChecklistPhase, MaintenanceType
from maintenance.policy import fmt_duration, fmt_local, fmt_local_range, maintenance_zone

ANNOUNCEMENT_TEMPLATE = "maintenance/announcement.md"


def _long_date(dt: datetime) -> str:
    return f"{dt:%A}, {dt:%B} {dt.day}, {dt:%Y}"


def when_text(start: datetime, end: datetime) -> str:
    """'[Date] [Time]-[Time] PST' from the seed, e.g. 'Tuesday, January 12, 2027 02:00-03:00 PST'."""
    zone = maintenance_zone()
    s, e = start.astimezone(zone), end.astimezone(zone)
    if s.date() == e.date() and s.tzname() == e.tzname():
        return f"{_long_date(s)} {s:%H:%M}-{e:%H:%M} {e.tzname()}"
    return f"{_long_date(s)} {s:%H:%M} {s.tzname()} - {_long_date(e)} {e:%H:%M} {e.tzname()}"


def duration_minutes(start: datetime, end: datetime) -> int:
    return max(int(round((end - start).total_seconds() / 60)), 0)


def announcement_text(window) -> str:
    """The seed's Communication Template, filled in from the window."""
    return render_to_string(
        ANNOUNCEMENT_TEMPLATE,
        {
            "when": when_text(window.planned_start, window.planned_end),
            "minutes": duration_minutes(window.planned_start, window.planned_end),
            "impact": " ".join(window.impact.split()),
            "reason": " ".join(window.reason.split()),
        },
    ).strip()


def _type_word(window) -> str:
    return "Emergency maintenance" if window.type == MaintenanceType.EMERGENCY else "Maintenance"


def scheduled_subject(window) -> str:
    return f"Scheduled maintenance: {window.title} — {fmt_local(window.planned_start)}"


def rescheduled_subject(window) -> str:
    return f"Maintenance rescheduled: {window.title} — {fmt_local(window.planned_start)}"


def rescheduled_text(window, *, old_start: datetime, old_end: datetime) -> str:
    """The announcement of a moved window, saying where it moved from (the announcement itself stays the seed's)."""
    return f"Rescheduled. Previously: {when_text(old_start, old_end)}.\n\n" + (
        window.announcement or announcement_text(window)
    )


def reminder_subject(window) -> str:
    return f"Reminder: maintenance starts {fmt_local(window.planned_start)} — {window.title}"


def reminder_text(window) -> str:
    return "Reminder: this maintenance starts soon.\n\n" + (window.announcement or announcement_text(window))


def started_subject(window) -> str:
    return f"{_type_word(window)} in progress: {window.title}"


def started_text(window) -> str:
    return (
        f"## Under Maintenance\n\n"
        f"{_type_word(window)} started at {fmt_local(window.actual_start)}.\n"
        f"**Estimated completion**: {fmt_local(window.eta)}\n"
        f"**Impact**: {' '.join(window.impact.split())}\n\n"
        "We'll update this page when complete."
    )


def eta_subject(window) -> str:
    return f"Maintenance update: new estimated completion {fmt_local(window.eta)} — {window.title}"


def eta_text(window, *, old_eta, reason: str) -> str:
    old = fmt_local(old_eta) if old_eta else "not set"
    return (
        f"## Maintenance Update\n\n"
        f"The maintenance is taking longer than planned.\n"
        f"**Estimated completion**: {fmt_local(window.eta)} (was {old})\n"
        f"**Why**: {' '.join(reason.split())}\n\n"
        "We'll update this page when complete."
    )


def overdue_subject(window) -> str:
    return f"Maintenance running long: {window.title} (ETA {fmt_local(window.eta)} passed)"


def overdue_text(window, *, now: datetime) -> str:
    return (
        f"## Maintenance Running Long\n\n"
        f"The maintenance has passed its estimated completion of {fmt_local(window.eta)} "
        f"by {fmt_duration(now - window.eta)}. We're still working on it and will post a new estimate shortly.\n\n"
        "We'll update this page when complete."
    )


def completed_subject(window) -> str:
    return f"Maintenance complete: {window.title}"


def completed_text(window) -> str:
    return (
        f"## Operational\n\n"
        f"The maintenance finished at {fmt_local(window.actual_end)}. All systems are operational.\n\n"
        "Thank you for your patience."
    )


def cancelled_subject(window) -> str:
    return f"Maintenance cancelled: {window.title}"


def cancelled_text(window) -> str:
    return (
        f"## Maintenance Cancelled\n\n"
        f"The maintenance planned for {when_text(window.planned_start, window.planned_end)} is cancelled.\n"
        f"**Why**: {' '.join(window.cancellation_reason.split())}"
    )


def summary_subject(window) -> str:
    return f"Post-maintenance summary: {window.title} ({window.public_id})"


def _overrun_text(window) -> str:
    if not (window.actual_end and window.planned_end):
        return "unknown"
    delta = window.actual_end - window.planned_end
    if delta > timedelta(0):
        return f"{fmt_duration(delta)} past the planned end"
    if delta == timedelta(0):
        return "none (finished on time)"
    return f"none (finished {fmt_duration(-delta)} early)"


def summary_text(window, *, items, eta_changes, sections) -> str:
    """The post-maintenance summary for #team-ops (Markdown). `sections`: (title, [SummaryLine]) that the apps
    above maintenance contribute (runbook executions, linked incidents; `maintenance.registry`)."""
    planned = window.planned_duration
    actual = window.actual_duration
    lines = [
        f"*Post-maintenance summary: {window.title}* ({window.public_id})",
        f"Type: {window.get_type_display()} · Owner: {window.owner or '—'} · On-call: {window.on_call_engineer or '—'}",
        f"Planned: {fmt_local_range(window.planned_start, window.planned_end)} ({fmt_duration(planned)})",
        "Actual: "
        + (
            f"{fmt_local_range(window.actual_start, window.actual_end)} ({fmt_duration(actual)})"
            if actual is not None
            else "—"
        ),
        f"Overrun: {_overrun_text(window)}",
    ]
    if window.emergency_justification:
        lines.append(f"Emergency justification: {window.emergency_justification}")
    if eta_changes:
        lines.append("ETA changes:")
        for change in eta_changes:
            old = fmt_local(change.old_eta) if change.old_eta else "—"
            lines.append(
                f"- {fmt_local(change.changed_at)} by {change.changed_by_name}: {old} → {fmt_local(change.new_eta)} — {change.reason}"
            )
    lines.append("Checklist:")
    for phase in ChecklistPhase:
        phase_items = [i for i in items if i.phase == phase]
        if not phase_items:
            continue
        done = sum(1 for i in phase_items if i.done_at)
        lines.append(f"{phase.label} ({done}/{len(phase_items)})")
        for item in phase_items:
            live = [a for a in item.approvals.all() if a.revoked_at is None]
            mark = "x" if item.done_at else " "
            who = ", ".join(f"{a.actor_name} at {fmt_local(a.approved_at)}" for a in live) or "not approved"
            suffix = ""
            if phase == ChecklistPhase.BEFORE and not item.done_at:
                suffix = " (open: debt)"
            lines.append(f"- [{mark}] {item.text} — {who}{suffix}")
    for title, records in sections:
        lines.append(f"{title}:" if records else f"{title}: none")
        lines.extend(f"- {r.label}: {r.status}" + (f" — {r.detail}" if r.detail else "") for r in records)
    return "\n".join(lines)


def on_call_request_subject(window) -> str:
    return (
        f"Please confirm you are on call: {window.title} ({fmt_local_range(window.planned_start, window.planned_end)})"
    )


def on_call_request_text(window, *, url: str) -> str:
    """The email that asks the window's on-call engineer to confirm being available (their own action)."""
    components = ", ".join(c.name for c in window.components.all()) or "—"
    return "\n".join(
        [
            f"You are the on-call engineer for “{window.title}” ({window.public_id}).",
            f"When: {fmt_local_range(window.planned_start, window.planned_end)}",
            f"Components: {components}",
            f"Owner: {window.owner or '—'}",
            "",
            "The window cannot start until you confirm you are available. Confirm here (no approver role needed):",
            url,
            "",
            "If you cannot be on call, tell the owner so they can name someone else.",
        ]
    )

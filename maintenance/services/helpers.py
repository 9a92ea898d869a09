"""Shared pieces of the window services: permissions, constants, locking, saving, announcing."""

from __future__ import annotations

from ersen_ops.core.errors import PolicyViolation
from ersen_ops.core.services import current_phase
from ersen_ops.notifications.choices import Channel, PagerAction
from ersen_ops.notifications.services import notify
from maintenance import policy
from maintenance.choices import RESOLVING_EVENTS, MaintenanceType
from maintenance.models import (
    MaintenanceWindow,
)

SYSTEM_ACTOR = "system:maintenance"
SWEEPER_ACTOR = "system:maintenance-sweeper"

PERM_ADD = "maintenance.add_maintenancewindow"
PERM_CHANGE = "maintenance.change_maintenancewindow"
PERM_TRANSITION = "maintenance.transition_maintenancewindow"
PERM_APPROVE = "maintenance.approve_checklistitem"


# The editable-field rules are the policy's (written once there); the services take the window's own fields as
# keyword arguments and its components apart.
EDITABLE_FIELDS = policy.EDITABLE_FIELDS
SCHEDULE_FIELDS = policy.SCHEDULE_FIELDS
ANNOUNCED_FIELDS = policy.ANNOUNCED_FIELDS
WINDOW_FIELDS = tuple(f for f in policy.WINDOW_FIELDS if f != "components")


WINDOW_INVALID = "The window is not valid:"


def _is_user(actor) -> bool:
    return actor is not None and not isinstance(actor, str)


def _snapshot(window: MaintenanceWindow) -> dict:
    return {
        "status": window.status,
        "type": window.type,
        "planned_start": window.planned_start,
        "planned_end": window.planned_end,
        "eta": window.eta,
        "actual_start": window.actual_start,
        "actual_end": window.actual_end,
        "closed_at": window.closed_at,
    }


def _raise_violations(violations: list[policy.Violation], lead: str) -> None:
    """One readable sentence per broken rule; the Violation objects ride along for forms."""
    if violations:
        exc = PolicyViolation(f"{lead} " + " ".join(v.message for v in violations), code=violations[0].rule)
        exc.violations = violations
        raise exc


def window_channels(window: MaintenanceWindow, phase: str | None = None) -> tuple[str, ...]:
    phase = phase or window.scheduled_phase or current_phase()
    return policy.channels_for(window.type, phase, window.planned_duration).channels


def _announce(window: MaintenanceWindow, *, event: str, subject: str, body: str, actor, channels=None) -> list:
    return notify(
        event=event,
        channels=channels or window_channels(window),
        subject=subject,
        body=body,
        related=window,
        actor=actor,
        # One pager incident per window: the completion or cancellation resolves it.
        pager_action=PagerAction.RESOLVE if event in RESOLVING_EVENTS else PagerAction.TRIGGER,
        dedup_key=window.public_id,
        severity="critical" if window.type == MaintenanceType.EMERGENCY else "info",
    )


def _status_page_delivery(deliveries):
    return next((d for d in deliveries if d.channel == Channel.STATUS_PAGE), None)

"""Maintenance enumerations: window types and states, the one transition table, the events a window announces,
checklist phases and item keys."""

from django.db import models

from ersen_ops.core import choices as transitions


class MaintenanceType(models.TextChoices):
    ROUTINE = "routine", "Routine (deploys, patches)"
    URGENT = "urgent", "Urgent (security fixes)"
    EMERGENCY = "emergency", "Emergency (critical outage)"


class WindowStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    SCHEDULED = "scheduled", "Scheduled"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


# The lifecycle: the only moves a window can make. Services check against this table.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    WindowStatus.DRAFT: (WindowStatus.SCHEDULED, WindowStatus.CANCELLED),
    WindowStatus.SCHEDULED: (WindowStatus.IN_PROGRESS, WindowStatus.CANCELLED),
    WindowStatus.IN_PROGRESS: (WindowStatus.COMPLETED,),
    WindowStatus.COMPLETED: (),
    WindowStatus.CANCELLED: (),
}


class WindowEvent(models.TextChoices):
    """What a window announces: the `event` of its notification deliveries, of the status posts the public page
    builds from them, and of the subscribers' notices. The names other apps key their tables by."""

    SCHEDULED = "maintenance.scheduled", "Scheduled"
    RESCHEDULED = "maintenance.rescheduled", "Rescheduled"
    UPDATED = "maintenance.updated", "Updated"
    REMINDER = "maintenance.reminder", "Reminder"
    STARTED = "maintenance.started", "In progress"
    ETA_CHANGED = "maintenance.eta_changed", "New estimated completion"
    OVERDUE = "maintenance.overdue", "Running long"
    COMPLETED = "maintenance.completed", "Completed"
    CANCELLED = "maintenance.cancelled", "Cancelled"
    SUMMARY = "maintenance.summary", "Post-maintenance summary"  # to #team-ops only
    ON_CALL_REQUESTED = "maintenance.on_call_requested", "On-call confirmation requested"  # to the engineer only


# The events that end a window's announcements (the pager incident of the window resolves).
RESOLVING_EVENTS = frozenset({WindowEvent.COMPLETED, WindowEvent.CANCELLED})

# States that occupy their components (for the overlap rule).
ACTIVE_STATUSES = (WindowStatus.SCHEDULED, WindowStatus.IN_PROGRESS)

STATUS_COLOURS = {
    WindowStatus.DRAFT: "#757575",
    WindowStatus.SCHEDULED: "#1565c0",
    WindowStatus.IN_PROGRESS: "#ef6c00",
    WindowStatus.COMPLETED: "#2e7d32",
    WindowStatus.CANCELLED: "#9e9e9e",
}

TYPE_COLOURS = {
    MaintenanceType.ROUTINE: "#546e7a",
    MaintenanceType.URGENT: "#f9a825",
    MaintenanceType.EMERGENCY: "#c62828",
}


def can_transition(current: str, target: str) -> bool:
    return transitions.can_transition(TRANSITIONS, current, target)


class ChecklistPhase(models.TextChoices):
    BEFORE = "before", "Before maintenance"
    DURING = "during", "During maintenance"
    AFTER = "after", "After maintenance"


PHASE_ORDER = {ChecklistPhase.BEFORE: 0, ChecklistPhase.DURING: 1, ChecklistPhase.AFTER: 2}


class ItemKey(models.TextChoices):
    """Stable identity of the seed's checklist items, so automation survives a rewording of the text."""

    BACKUP_VERIFIED = "backup_verified", "Backup completed and verified"
    ROLLBACK_PLAN = "rollback_plan", "Rollback plan documented"
    STATUS_SCHEDULED = "status_scheduled", 'Status page updated to "Scheduled Maintenance"'
    ON_CALL_CONFIRMED = "on_call_confirmed", "On-call engineer confirmed available"
    ETA_COMMUNICATED = "eta_communicated", "Estimated completion time communicated"
    STATUS_UNDER_MAINTENANCE = "status_under_maintenance", 'Status page shows "Under Maintenance"'
    MONITOR_LOGS = "monitor_logs", "Monitor logs for issues"
    TEST_CORE = "test_core", "Test core functionality after changes"
    UPDATE_ETA = "update_eta", "Update ETA if running long"
    STATUS_OPERATIONAL = "status_operational", 'Status page updated to "Operational"'
    SMOKE_TEST = "smoke_test", "Smoke test all critical paths (login, widgets, payments)"
    SUMMARY_TEAM_OPS = "summary_team_ops", "Post-maintenance summary in #team-ops"

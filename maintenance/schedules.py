"""Declared django-q schedules of the maintenance app (see ersen_ops.core.scheduling)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    # In-progress windows past their ETA: mark overdue, announce once per overrun.
    Every(name="maintenance.mark_overdue", func="maintenance.tasks.mark_overdue", minutes=1),
    # Routine windows: one reminder OPS_MAINTENANCE_REMINDER_MINUTES before the start.
    Every(name="maintenance.send_reminders", func="maintenance.tasks.send_reminders", minutes=1),
    # Completed windows whose #team-ops summary was sent: approve "Post-maintenance summary in #team-ops".
    Every(name="maintenance.sweep_sent_summaries", func="maintenance.tasks.sweep_sent_summaries", minutes=1),
]

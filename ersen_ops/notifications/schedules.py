"""Declared django-q schedules of the notifications app (see ersen_ops.core.scheduling)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    # Retries that are due, deliveries whose task was lost, claims of workers that died mid-send.
    Every(name="notifications.sweep", func="ersen_ops.notifications.tasks.sweep_deliveries", minutes=1),
]

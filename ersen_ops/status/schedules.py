"""Declared django-q schedules of the status app (see ersen_ops.core.scheduling)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    Every(name="status.uptime_sweep", func="ersen_ops.status.tasks.uptime_sweep", minutes=1),
]

"""Declared django-q schedules of the core app (see ersen_ops.core.scheduling)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    Every(name="core.heartbeat", func="ersen_ops.core.tasks.heartbeat", minutes=1),
    Every(name="core.prune_task_deliveries", func="ersen_ops.core.tasks.prune_task_deliveries", minutes=24 * 60),
]

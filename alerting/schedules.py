"""Declared django-q schedules of alert intake (see ersen_ops.core.scheduling)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    # Groups whose alerts all resolved: resolve their incident after the integration's quiet period.
    Every(name="alerting.resolve_quiet_groups", func="alerting.tasks.resolve_quiet_groups", minutes=1),
    # Alerts suppressed by a window that has ended and still firing: open or join their incident.
    Every(name="alerting.release_suppressed", func="alerting.tasks.release_suppressed", minutes=1),
]

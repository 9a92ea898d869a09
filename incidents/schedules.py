"""Declared django-q schedules of the incidents app (see ersen_ops.core.scheduling)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    Every(name="incidents.check_sla", func="incidents.tasks.check_sla", minutes=1),
]

"""Declared django-q schedules of the scheduler (see ersen_ops.core.scheduling).

The tick decides every schedule's due occurrences; a due time it sees later than OPS_SCHEDULE_GRACE_SECONDS
(default: two tick intervals + 60 s) was missed."""

from ersen_ops.core.scheduling import Every

TICK_MINUTES = 1

SCHEDULES = [
    Every(name="scheduler.tick", func="scheduler.tasks.tick", minutes=TICK_MINUTES),
]

"""Declared django-q schedules of the operations API (see ersen_ops.core.scheduling)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    # Rate counters older than two windows and idempotency records older than OPS_API_IDEMPOTENCY_HOURS.
    Every(name="api.purge", func="api.tasks.purge", minutes=60),
]

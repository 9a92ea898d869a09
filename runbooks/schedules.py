"""Declared django-q schedules of the runbooks app (applied by `migrate` / `manage.py apply_schedules`)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    # A run whose worker died is marked lost within 2 minutes (heartbeat limit OPS_RUNBOOK_LOST_AFTER + this period).
    Every(name="runbooks.reap_lost_executions", func="runbooks.tasks.reap_lost_executions", minutes=1),
    # Safety net: a free host's oldest queued run is queued again if its kick was lost.
    Every(name="runbooks.start_waiting_executions", func="runbooks.tasks.start_waiting_executions", minutes=1),
]

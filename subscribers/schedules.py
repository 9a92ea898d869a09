"""Declared django-q schedules of the subscribers app (see ersen_ops.core.scheduling)."""

from ersen_ops.core.scheduling import Every

SCHEDULES = [
    # Lost fan-out chunks, component status changes no signal saw (bulk writes), expired rate-limit
    # counters and unconfirmed subscriptions past OPS_SUBSCRIBE_PENDING_DAYS.
    Every(name="subscribers.sweep", func="subscribers.tasks.sweep", minutes=1),
    # Deliveries of notices older than OPS_SUBSCRIBER_DELIVERY_DAYS become counts on the notice (20 notices a run).
    Every(name="subscribers.reduce_deliveries", func="subscribers.tasks.reduce_deliveries", minutes=60),
]
